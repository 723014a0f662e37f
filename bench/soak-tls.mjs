// TLS material for the soak's STARTTLS sessions: a copy of TEST_TLS in
// test/helpers/test-tls.ts (a private "mail-guard test CA" and a server certificate
// for localhost / 127.0.0.1, EC P-256, valid until 2126). Copied rather than
// imported because bench/ is plain JS run without a TypeScript step. mail-guard
// serves key/cert (written to files, as smtp.tls wants paths); the soak client
// verifies the server against ca, so a broken STARTTLS cannot pass unnoticed.
// Test material only: the private key is public.

export const SOAK_TLS = {
  servername: 'localhost',
  ca: `-----BEGIN CERTIFICATE-----
MIIBojCCAUegAwIBAgIUPm1kmVxJVxnu5G733jk5Wwk58XswCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSbWFpbC1ndWFyZCB0ZXN0IENBMCAXDTI2MTEyOTA4MjIzNloY
DzIxMjYxMTA1MDgyMjM2WjAdMRswGQYDVQQDDBJtYWlsLWd1YXJkIHRlc3QgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQkGCHiI7MjT9vV5BAOZDjPcBhNwg38
q184HjyNjitZNeaNimCFZfxpI0V4nmItk4Rbgc6V0GvmHhy4iIlSYvAWo2MwYTAd
BgNVHQ4EFgQUnhuYFUqYHB5naJZsf0Ad1s0aGwEwHwYDVR0jBBgwFoAUnhuYFUqY
HB5naJZsf0Ad1s0aGwEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYw
CgYIKoZIzj0EAwIDSQAwRgIhALT50hbJVYqZPajFXejWkiNdSNxfawSL0+a1uHN4
ReUWAiEApP99R1B1fCUz1o0LvsZ4FXSy5ZbU5zXSkzR+BEpM3QE=
-----END CERTIFICATE-----`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBwjCCAWigAwIBAgIURkrNfnvPzhg+xO/JdWDLBnuoLpkwCgYIKoZIzj0EAwIw
HTEbMBkGA1UEAwwSbWFpbC1ndWFyZCB0ZXN0IENBMCAXDTI2MTEyOTA4MjIzNloY
DzIxMjYxMTA1MDgyMjM2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAARyCs34fkodfkRijgWMOG3YIOp0UeGmoLBvcUBPoZ+5
lZ0Th67n3/3c4PbWVBvUGR5HgW/yqJekMq6wfuAgnK1/o4GMMIGJMBoGA1UdEQQT
MBGCCWxvY2FsaG9zdIcEfwAAATAJBgNVHRMEAjAAMAsGA1UdDwQEAwIHgDATBgNV
HSUEDDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUxE5lNw0cxf2tkcRMciHCa/zhkhEw
HwYDVR0jBBgwFoAUnhuYFUqYHB5naJZsf0Ad1s0aGwEwCgYIKoZIzj0EAwIDSAAw
RQIhAIE9/EKUs70OXEN4yF99w05sSt0klMkXeiyg/3dbq8nMAiBatjvIAdu+SyTt
TPyltl0Xj3UA3haFsDLqy0A5pao86A==
-----END CERTIFICATE-----`,
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpGVkA3H4onmhjf0s
iuQYTlUhkNkieDCzvpLqSWvp7C+hRANCAARyCs34fkodfkRijgWMOG3YIOp0UeGm
oLBvcUBPoZ+5lZ0Th67n3/3c4PbWVBvUGR5HgW/yqJekMq6wfuAgnK1/
-----END PRIVATE KEY-----`,
};
