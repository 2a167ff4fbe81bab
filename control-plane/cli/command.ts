import type { FlagDefs, ParsedCli } from '../../shared/cli.js';

/** One meshctl subcommand; `run` returns the exit code. */
export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly flags: FlagDefs;
  run(values: ParsedCli['values'], positionals: string[], out: NodeJS.WritableStream): Promise<number>;
}
