// Times @digitalbazaar/vc verifyCredential: {credential, iterations} -> {mean_us, iterations}, after a warm-up.
import {verifyCredential} from './documents.mjs';
import {main} from './io.mjs';

async function bench({credential, iterations}) {
  if(!Number.isInteger(iterations) || iterations < 1) {
    throw new Error('iterations must be a positive integer');
  }
  const once = async () => {
    const result = await verifyCredential(credential);
    if(!result.verified) {
      throw new Error(`the credential does not verify: ${result.error}`);
    }
  };
  for(let i = 0; i < Math.min(iterations, 50); i++) {
    await once();
  }
  const start = process.hrtime.bigint();
  for(let i = 0; i < iterations; i++) {
    await once();
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  return {mean_us: elapsed / iterations, iterations};
}

await main(bench);
