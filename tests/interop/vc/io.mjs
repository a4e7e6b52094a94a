// Shared command-line plumbing: read one JSON object on stdin, run the command named by argv[2] (or the single
// function given), and write one JSON object on stdout. Exit 0 with the command's result, or 1 with {"error": ...}.
import {text} from 'node:stream/consumers';

export async function main(commands) {
  const name = process.argv[2];
  try {
    const command = typeof commands === 'function' ? commands : commands[name];
    if(!command) {
      throw new Error(`unknown command ${JSON.stringify(name)} (known: ${Object.keys(commands).join(', ')})`);
    }
    const input = JSON.parse(await text(process.stdin));
    process.stdout.write(JSON.stringify(await command(input)) + '\n');
  } catch(e) {
    process.stdout.write(JSON.stringify({error: describe(e)}) + '\n');
    process.exitCode = 1;
  }
}

// A readable one-line account of an error, including the nested errors jsonld, jsonld-signatures and vc collect.
export function describe(error) {
  if(!error) {
    return 'unknown error';
  }
  const cause = error.cause ?? error.details?.cause;
  const nested = error.errors ?? (cause ? [cause] : []);
  const inner = nested.map(describe).filter(message => message !== error.message);
  const event = error.details?.event;  // jsonld safe mode says what it refused here
  const own = (error.message ?? String(error)) + (event ? ` (${event.code}: ${event.message})` : '');
  return inner.length ? `${own}: ${inner.join('; ')}` : own;
}
