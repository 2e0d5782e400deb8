#!/usr/bin/env node
/**
 * The `ocibuild` command: a thin layer over the public API.
 * Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted (SIGINT or SIGTERM).
 * @module
 */
import { createRequire } from 'node:module';
import { commands } from './commands/index.ts';
import { closestName } from '../index.ts';
import { describeError, UsageError, type CommandIO } from './util.ts';
import { watchInterrupts } from './interrupt.ts';
import { instantiateHttpParserWithoutTierUp, keepWasmOnBaseline } from './wasm-tiering.ts';

const interrupts = watchInterrupts(process.stderr);

// A last net: the API handles every promise it makes, but a stray rejection (a bug, a plugin's
// credential helper) still ends the command with one line and exit 1, not a stack dump.
process.on('unhandledRejection', (error) => {
  process.stderr.write(`${interrupts.signal.aborted ? 'interrupted' : describeError(error)}\n`);
  process.exit(interrupts.signal.aborted ? 130 : 1);
});

const io: CommandIO = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  write: (data) => process.stdout.write(data),
  isTTY: Boolean(process.stderr.isTTY),
  signal: interrupts.signal,
};

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'ocibuild: build OCI and Docker images without a daemon and without root',
    '',
    'Usage: ocibuild COMMAND [OPTIONS]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `ocibuild COMMAND --help` for the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
    io.out(pkg.version);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    const near = closestName(name, commands.map((c) => c.name));
    io.err(`ocibuild: unknown command ${JSON.stringify(name)}${near !== undefined ? ` (did you mean ${near}?)` : ''}\n\n${mainHelp()}`);
    return 2;
  }
  // Only now is the command's code loaded: the help and the version need none of it.
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(command.help);
    return 0;
  }
  // Before the command compiles any WebAssembly (loading its code compiles none; undici's parser
  // compiles at the first connection), and not for its help.
  if (entry.baselineWasm === true) keepWasmOnBaseline();
  else await instantiateHttpParserWithoutTierUp().catch(() => false);
  try {
    return await command.run(rest, io);
  } catch (error) {
    // Whatever the abort made fail, the user pressed Ctrl-C: one word, not the error it caused.
    if (interrupts.signal.aborted) {
      io.err('interrupted');
      if (process.env.OCIBUILD_DEBUG) io.err(describeError(error));
      return 130;
    }
    if (error instanceof UsageError) {
      io.err(`ocibuild ${command.name}: ${error.message}\nRun \`ocibuild ${command.name} --help\` for usage.`);
      return 2;
    }
    io.err(describeError(error));
    if (process.env.OCIBUILD_DEBUG && error instanceof Error && error.stack) io.err(error.stack);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
interrupts.dispose();
