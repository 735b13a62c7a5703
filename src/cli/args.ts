// Command-line flags shared by every CLI command (plan, attention, and later ones).
// Accepted syntax, stated in every error: `--name value` or `--name=value`; a switch is `--name`,
// `--name=0|1` (also true/false/on/off), `--name 0|1`, or `--no-name`.
// Safety: names are looked up in Maps (own entries only), so `--constructor` or `--__proto__` is an
// unknown flag (exit 2), never an Object.prototype member; parsing is one pass over each argument
// with no backtracking regex, and every argument is length-capped before it is inspected.

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Longest accepted argument (flag plus value). Paths on Linux are at most 4096 bytes (PATH_MAX). */
export const MAX_ARG_LENGTH = 4096;

const SWITCH_TRUE: ReadonlySet<string> = new Set(['1', 'true', 'on']);
const SWITCH_FALSE: ReadonlySet<string> = new Set(['0', 'false', 'off']);

export const SYNTAX = 'flags are written --name value or --name=value; switches as --name, --name=0|1 or --no-name';

export interface FlagSpec {
  /** Flags that take a value. */
  readonly values?: readonly string[];
  /** On/off flags. */
  readonly switches?: readonly string[];
}

export interface ParsedFlags {
  /** The value given to each value flag (the last one when repeated), in the order first seen. */
  readonly values: ReadonlyMap<string, string>;
  /** The state given to each switch (the last one when repeated). */
  readonly switches: ReadonlyMap<string, boolean>;
  /** --help or -h was given. */
  readonly help: boolean;
}

/** A flag name is lower-case letters, digits and dashes, starting with a letter. Checked char by char. */
function isFlagName(name: string): boolean {
  if (name.length === 0 || name.length > 64) return false;
  const first = name.charCodeAt(0);
  if (first < 97 || first > 122) return false;
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45)) return false;
  }
  return true;
}

/** What the user typed, shortened for an error message (never the whole of a huge argument). */
export function quoteArg(arg: string, max = 40): string {
  return JSON.stringify(arg.length > max ? `${arg.slice(0, max)}…` : arg);
}

function switchValue(text: string): boolean | undefined {
  const t = text.toLowerCase();
  if (SWITCH_TRUE.has(t)) return true;
  if (SWITCH_FALSE.has(t)) return false;
  return undefined;
}

/** Parses argv against a spec. Throws UsageError with a message that names the flag and the accepted syntax. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const valueFlags = new Set(spec.values ?? []);
  const switchFlags = new Set(spec.switches ?? []);
  const known = (): string => [...valueFlags, ...switchFlags].map((f) => `--${f}`).join(' ');
  const values = new Map<string, string>();
  const switches = new Map<string, boolean>();
  let help = false;

  for (let i = 0; i < argv.length; i++) {
    const arg = String(argv[i] ?? '');
    if (arg.length > MAX_ARG_LENGTH) {
      const eq = arg.indexOf('=');
      const name = arg.startsWith('--') ? arg.slice(0, eq > 2 && eq < 70 ? eq : Math.min(arg.length, 40)) : 'argument';
      throw new UsageError(`${name} is ${arg.length} characters long; at most ${MAX_ARG_LENGTH} are accepted.`);
    }
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${quoteArg(arg)}; ${SYNTAX}.`);
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (!isFlagName(name)) throw new UsageError(`unknown flag ${quoteArg(eq < 0 ? arg : arg.slice(0, eq))}; known flags: ${known()}; ${SYNTAX}.`);

    if (switchFlags.has(name) || (name.startsWith('no-') && switchFlags.has(name.slice(3)))) {
      const negated = !switchFlags.has(name);
      if (negated) name = name.slice(3);
      let on: boolean | undefined = true;
      if (inline !== undefined) {
        if (negated) throw new UsageError(`--no-${name} takes no value; write --${name}=0 or --no-${name}.`);
        on = switchValue(inline);
        if (on === undefined) throw new UsageError(`--${name} is a switch: write --${name}, --${name}=1 or --${name}=0 (also true/false/on/off); got ${quoteArg(inline)}.`);
      } else if (!negated) {
        // `--flash 0` reads the next argument only when it is a switch value.
        const next = argv[i + 1];
        const v = next === undefined ? undefined : switchValue(String(next));
        if (v !== undefined) {
          on = v;
          i++;
        }
      } else on = false;
      switches.set(name, on);
      continue;
    }

    if (!valueFlags.has(name)) throw new UsageError(`unknown flag --${name}; known flags: ${known()}; ${SYNTAX}.`);
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || String(next).startsWith('--')) throw new UsageError(`--${name} needs a value: write --${name} VALUE or --${name}=VALUE.`);
      value = String(next);
      i++;
      if (value.length > MAX_ARG_LENGTH) throw new UsageError(`--${name}'s value is ${value.length} characters long; at most ${MAX_ARG_LENGTH} are accepted.`);
    }
    values.set(name, value);
  }
  return { values, switches, help };
}

/** `Object.hasOwn`-based lookup for records keyed by user text: never returns an inherited member. */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
