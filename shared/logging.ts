import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino';

export type { Logger };
export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The root logger of a process: JSON lines to stderr (stdout belongs to the CLI's output). */
export function createRootLogger(level: LevelWithSilent, process: string, dest?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { process, pid: globalThis.process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** One logger per component; the `component` field is what operators filter on. */
export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
