// xid's implementation for this suite (tests/interop/test_w3c_suites.py serves it and sets these variables).
// XID_W3C_BASE_URL: the served https origin; XID_W3C_TOKEN: the issuer VC API's bearer token;
// XID_W3C_ISSUER: the issuing instance's identifier (a did:key) and XID_W3C_INSTANCE: its name.
const base = process.env.XID_W3C_BASE_URL;
const token = process.env.XID_W3C_TOKEN;
const instance = process.env.XID_W3C_INSTANCE || 'key-ed25519';
module.exports = {
  settings: {enableInteropTests: false, testAllImplementations: false},
  implementations: [{
    name: 'xid',
    implementation: 'xid',
    issuers: [{
      id: process.env.XID_W3C_ISSUER,
      endpoint: `${base}/instances/${instance}/credentials/issue`,
      headers: {Authorization: `Bearer ${token}`},
      tags: ['vc2.0'],
      options: {}
    }],
    verifiers: [{
      id: process.env.XID_W3C_ISSUER,
      endpoint: `${base}/credentials/verify`,
      tags: ['vc2.0']
    }],
    vpVerifiers: [{
      id: process.env.XID_W3C_ISSUER,
      endpoint: `${base}/presentations/verify`,
      tags: ['vc2.0']
    }]
  }]
};
