// The console's only script (CSP script-src 'self'): every page works without it.
// It adds two things: a confirmation before a decision is sent, and the live
// overview, which fetches its own fragment again every few seconds.
'use strict';

document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) event.preventDefault();
});

function live(element) {
  var url = element.getAttribute('data-live');
  var every = Number(element.getAttribute('data-interval')) || 5000;
  function refresh() {
    // Someone is typing into a form in the live part (a breaker's reset reason): do not swap it away under them.
    var active = document.activeElement;
    if (active && element.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      setTimeout(refresh, every);
      return;
    }
    fetch(url, { credentials: 'same-origin', headers: { accept: 'text/html' }, redirect: 'error' })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html').body;
        element.replaceChildren.apply(element, Array.prototype.slice.call(fresh.childNodes));
        element.setAttribute('data-refreshed', new Date().toISOString());
      })
      .catch(function () {
        element.setAttribute('data-refresh-failed', new Date().toISOString());
      })
      .then(function () {
        setTimeout(refresh, every);
      });
  }
  setTimeout(refresh, every);
}

document.addEventListener('DOMContentLoaded', function () {
  Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), live);
});
