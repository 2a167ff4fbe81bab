#!/usr/bin/env node
import { helpText, parseCli, runMain } from '../../shared/cli.js';
import { UsageError } from '../../shared/errors.js';
import type { Command } from './command.js';
import { COMMANDS } from './commands/index.js';

function overview(): string {
  const rows = COMMANDS.map((c) => `  ${c.name.padEnd(16)} ${c.summary.split('. ')[0]}`);
  return `Usage: meshctl COMMAND [flags]\n\nOperate an mtls-mesh.\n\nCommands:\n${rows.join('\n')}\n\nRun "meshctl COMMAND --help" for a command's flags.\n`;
}

/** Finds the longest command name that prefixes argv ("token create" before "token"). */
function pick(argv: readonly string[]): { cmd: Command; rest: string[] } | undefined {
  for (const cmd of [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)) {
    const words = cmd.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { cmd, rest: argv.slice(words.length) };
  }
  return undefined;
}

runMain('meshctl', async () => {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(overview());
    return argv.length === 0 ? 2 : 0;
  }
  const found = pick(argv);
  if (!found) throw new UsageError(`unknown command ${JSON.stringify(argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' '))}; run meshctl --help`);
  const { values, positionals } = parseCli(found.rest, found.cmd.flags);
  if (values.help) {
    process.stdout.write(helpText(found.cmd.usage, found.cmd.summary, found.cmd.flags));
    return 0;
  }
  return found.cmd.run(values, positionals, process.stdout);
});
