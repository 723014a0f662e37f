// Addresses at these domains belong to unrelated people, so for
// `maxVisibleExternalDomains` each address counts as a "domain" of its own.
// Operators extend the list in config (policy.freemailDomains).
export const SHIPPED_FREEMAIL_DOMAINS: readonly string[] = [
  'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.jp', 'ymail.com',
  'outlook.com', 'outlook.jp', 'hotmail.com', 'hotmail.co.jp', 'live.com', 'live.jp', 'msn.com',
  'icloud.com', 'me.com', 'mac.com', 'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.net',
  'gmx.de', 'web.de', 'mail.com', 'yandex.ru', 'yandex.com', 'mail.ru', 'zoho.com', 'fastmail.com',
  'qq.com', '163.com', '126.com', 'naver.com', 'daum.net',
  'docomo.ne.jp', 'ezweb.ne.jp', 'au.com', 'softbank.ne.jp', 'i.softbank.jp', 'ymobile.ne.jp',
  'nifty.com', 'biglobe.ne.jp', 'ocn.ne.jp', 'so-net.ne.jp',
];
