// A wallet built on @openid4vc/openid4vci (pinned in package.json) that obtains credentials from an issuer.
//
// stdin: {"offerUri": "openid-credential-offer://?credential_offer_uri=...", "txCode": "123456" | null,
//         "configurationIds": ["..."], "batch": 1}
// stdout: {"version", "credentials": {configurationId: [credential, ...]}, "proofs": {configurationId: [header]},
//          "holderKeys": {configurationId: [private JWK of the key each credential is bound to]},
//          "exchanges": [{method, url, contentType, authorization, requestBody, status, responseBody}], "tokenResponse"}
// exit 1 with {"error": ...} when any step fails.
import { createHash, randomBytes } from "node:crypto";

import { clientAuthenticationAnonymous } from "@openid4vc/oauth2";
import { Openid4vciClient } from "@openid4vc/openid4vci";
import { setGlobalConfig } from "@openid4vc/utils";
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";

setGlobalConfig({ allowInsecureUrls: true }); // the issuer under test listens on http://127.0.0.1

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
    // not JSON: keep the text
  }
  exchanges.push({
    method: init.method ?? "GET",
    url: String(input),
    contentType: headers.get("content-type"),
    authorization: headers.get("authorization")?.split(" ")[0] ?? null,
    requestBody: parseBody(init.body, headers.get("content-type")),
    status: response.status,
    cacheControl: response.headers.get("cache-control"),
    responseBody,
  });
  return response;
}

const keys = new Map(); // JSON of the public JWK -> private key
const privateJwks = new Map(); // JSON of the public JWK -> private JWK (reported, so a test can present)

async function signJwt(signer, { header, payload }) {
  if (signer.method !== "jwk") throw new Error(`signer method ${signer.method} not supported by this driver`);
  const privateKey = keys.get(JSON.stringify(signer.publicJwk));
  if (!privateKey) throw new Error("no private key for the requested signer");
  const jwt = await new SignJWT(payload).setProtectedHeader(header).sign(privateKey);
  return { jwt, signerJwk: signer.publicJwk };
}

const client = new Openid4vciClient({
  callbacks: {
    fetch: recordingFetch,
    hash: (data, alg) => createHash(alg.replace("-", "")).update(data).digest(),
    generateRandom: (size) => randomBytes(size),
    signJwt,
    clientAuthentication: clientAuthenticationAnonymous(),
  },
});

async function newHolderKey() {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(publicKey);
  keys.set(JSON.stringify(jwk), privateKey);
  privateJwks.set(JSON.stringify(jwk), await exportJWK(privateKey));
  return jwk;
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { offerUri, txCode, configurationIds, batch = 1 } = JSON.parse(Buffer.concat(chunks).toString("utf8"));

  const credentialOffer = await client.resolveCredentialOffer(offerUri);
  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer,
    issuerMetadata,
    txCode: txCode ?? undefined,
  });
  const credentials = {};
  const proofs = {};
  const holderKeys = {};
  const notificationIds = {};
  for (const credentialConfigurationId of configurationIds) {
    const { c_nonce: nonce } = await client.requestNonce({ issuerMetadata });
    const jwts = [];
    const batchKeys = [];
    for (let i = 0; i < batch; i++) {
      const publicJwk = await newHolderKey();
      batchKeys.push(publicJwk);
      const { jwt } = await client.createCredentialRequestJwtProof({
        issuerMetadata,
        credentialConfigurationId,
        nonce,
        signer: { method: "jwk", alg: "ES256", publicJwk },
      });
      jwts.push(jwt);
    }
    const response = await client.retrieveCredentials({
      issuerMetadata,
      accessToken: accessTokenResponse.access_token,
      credentialConfigurationId,
      proofs: { jwt: jwts },
    });
    credentials[credentialConfigurationId] = response.credentialResponse.credentials.map((c) => c.credential);
    notificationIds[credentialConfigurationId] = response.credentialResponse.notification_id;
    proofs[credentialConfigurationId] = jwts.map((jwt) => decodeProtectedHeader(jwt));
    holderKeys[credentialConfigurationId] = batchKeys.map((jwk) => privateJwks.get(JSON.stringify(jwk)));
    await client.sendNotification({
      issuerMetadata,
      accessToken: accessTokenResponse.access_token,
      notification: { notificationId: response.credentialResponse.notification_id, event: "credential_accepted" },
    });
  }
  return {
    version: issuerMetadata.originalDraftVersion,
    tokenResponse: accessTokenResponse,
    credentials,
    notificationIds,
    proofs,
    holderKeys,
    exchanges,
  };
}

main().then(
  (result) => process.stdout.write(JSON.stringify(result)),
  (error) => {
    const detail = error?.response ? { status: error.response.status } : {};
    process.stdout.write(JSON.stringify({ error: String(error?.stack ?? error), ...detail, exchanges }));
    process.exit(1);
  },
);
