// A holder built on @openid4vc/openid4vp and @sd-jwt/sd-jwt-vc (pinned in package.json) that answers a verifier.
//
// stdin: {"requestUrl": "openid4vp://?client_id=...&request_uri=...", "credential": "<SD-JWT VC>",
//         "holderPrivateJwk": {...}, "disclose": ["claim", ...], "queryId": "pid",
//         "kb": {"aud"?, "nonce"?, "iatOffset"?},   (kb: optional overrides, for negative cases)
//         "walletNonce"?, "walletMetadata"?}         (sent when the request says request_uri_method=post)
// stdout: {"version", "client", "request" (the resolved request payload), "jarHeader", "presentation",
//          "responseMode", "submitted" (the form as posted), "status", "body", "exchanges"}
// exit 1 with {"error", "exchanges"} when a step before the submission fails.
import { X509Certificate, createHash, randomBytes } from "node:crypto";

import { Openid4vpClient } from "@openid4vc/openid4vp";
import { setGlobalConfig } from "@openid4vc/utils";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { CompactEncrypt, compactVerify, decodeProtectedHeader, importJWK, importX509 } from "jose";

setGlobalConfig({ allowInsecureUrls: true }); // the verifier under test listens on http://127.0.0.1

const exchanges = [];

function parseBody(body, contentType) {
  if (body === undefined || body === null) return null;
  const text = typeof body === "string" ? body : body instanceof URLSearchParams ? body.toString() : String(body);
  if ((contentType ?? "").includes("application/json")) return JSON.parse(text);
  if ((contentType ?? "").includes("x-www-form-urlencoded")) return Object.fromEntries(new URLSearchParams(text));
  return text;
}

async function recordingFetch(input, init = {}) {
  const headers = new Headers(init.headers ?? {});
  const response = await fetch(input, init);
  const text = await response.clone().text();
  let responseBody = text;
  try {
    responseBody = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (a request object): keep the text
  }
  exchanges.push({
    method: init.method ?? "GET",
    url: String(input),
    contentType: headers.get("content-type"),
    accept: headers.get("accept"),
    requestBody: parseBody(init.body, headers.get("content-type")),
    status: response.status,
    responseContentType: response.headers.get("content-type"),
    responseBody,
  });
  return response;
}

function pem(der) {
  const lines = der.match(/.{1,64}/g).join("\n");
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----`;
}

// The library checks the leaf's SAN against the client_id; it never validates the chain (nor do we here: the
// pytest side checks the x5c chain itself).
async function verifyJwt(signer, { header, compact }) {
  let key;
  if (signer.method === "x5c") key = await importX509(pem(signer.x5c[0]), header.alg);
  else if (signer.method === "jwk") key = await importJWK(signer.publicJwk, header.alg);
  else return { verified: false };
  try {
    await compactVerify(compact, key);
  } catch {
    return { verified: false };
  }
  const publicJwk = signer.method === "jwk" ? signer.publicJwk : { kty: "EC" };
  return { verified: true, signerJwk: publicJwk };
}

function getX509CertificateMetadata(certificate) {
  const der = typeof certificate === "string" ? Buffer.from(certificate, "base64") : Buffer.from(certificate);
  const names = (new X509Certificate(der).subjectAltName ?? "").split(", ");
  return {
    sanDnsNames: names.filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4)),
    sanUriNames: names.filter((n) => n.startsWith("URI:")).map((n) => n.slice(4)),
  };
}

async function encryptJwe(encryptor, data) {
  const key = await importJWK(encryptor.publicJwk, encryptor.alg);
  const header = { alg: encryptor.alg, enc: encryptor.enc, kid: encryptor.publicJwk.kid };
  const jwe = await new CompactEncrypt(new TextEncoder().encode(data)).setProtectedHeader(header).encrypt(key);
  return { encryptionJwk: encryptor.publicJwk, jwe };
}

const client = new Openid4vpClient({
  callbacks: {
    fetch: recordingFetch,
    hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
    verifyJwt,
    getX509CertificateMetadata,
    encryptJwe,
    decryptJwe: async () => ({ decrypted: false }),
    signJwt: async () => {
      throw new Error("this holder signs nothing but the KB-JWT (through @sd-jwt)");
    },
  },
});

async function main() {
  const input = JSON.parse(await new Promise((resolve) => {
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => resolve(text));
  }));
  const parsed = client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: input.requestUrl });
  // request_uri_method=post: what the wallet sends. 0.4.6 posts the metadata flattened and never sends wallet_nonce,
  // yet with expectedNonce it requires wallet_nonce in the request object.
  const wallet =
    input.walletNonce || input.walletMetadata
      ? { expectedNonce: input.walletNonce, metadata: input.walletMetadata ?? {} }
      : undefined;
  const resolved = await client.resolveOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: parsed.params,
    wallet,
  });
  const request = resolved.authorizationRequestPayload;
  const jarHeader = resolved.jar ? decodeProtectedHeader(resolved.jar.jwt.compact ?? exchanges[0].responseBody) : null;

  const sdjwt = new SDJwtVcInstance({
    hasher: digest,
    saltGenerator: generateSalt,
    kbSigner: await ES256.getSigner(input.holderPrivateJwk),
    kbSignAlg: "ES256",
  });
  const overrides = input.kb ?? {};
  const presentation = await sdjwt.present(
    input.credential,
    Object.fromEntries(input.disclose.map((name) => [name, true])),
    {
      kb: {
        payload: {
          aud: overrides.aud ?? request.client_id, // the FULL client_id, prefix included
          nonce: overrides.nonce ?? request.nonce,
          iat: Math.floor(Date.now() / 1000) + (overrides.iatOffset ?? 0),
        },
      },
    },
  );

  const encrypted = request.response_mode === "direct_post.jwt";
  const created = await client.createOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: { vp_token: { [input.queryId]: [presentation] } },
    ...(encrypted
      ? {
          jarm: {
            encryption: { nonce: request.nonce },
            serverMetadata: {
              authorization_signing_alg_values_supported: [],
              authorization_encryption_alg_values_supported: ["ECDH-ES"],
              authorization_encryption_enc_values_supported: ["A128GCM"],
            },
          },
        }
      : {}),
  });
  const submitted = await client.submitOpenid4vpAuthorizationResponse({
    authorizationRequestPayload: request,
    authorizationResponsePayload: created.authorizationResponsePayload,
    ...(created.jarm ? { jarm: { responseJwt: created.jarm.responseJwt } } : {}),
  });
  const last = exchanges[exchanges.length - 1];
  process.stdout.write(
    JSON.stringify({
      version: resolved.version,
      client: resolved.client,
      request,
      jarHeader,
      presentation,
      responseMode: submitted.responseMode,
      submitted: last.requestBody,
      status: submitted.response.status,
      body: last.responseBody,
      exchanges,
    }),
  );
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ error: String(error?.stack ?? error), exchanges }));
  process.exit(1);
});
