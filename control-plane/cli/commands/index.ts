import type { Command } from '../command.js';
import { tokenCreate, tokenList, tokenRevoke } from './token.js';
import { caBundle } from './ca.js';

/** Every meshctl command, in the order `meshctl --help` lists them. */
export const COMMANDS: readonly Command[] = [tokenCreate, tokenRevoke, tokenList, caBundle];
