// window.shardscope: a small read-only view of the app's state, for tests and the curious.
// Each field is a getter over live state, returning a fresh plain copy, so nothing outside can
// mutate the app through it. Modules add their own fields with exposeField().

type Getter = () => unknown;

const fields = new Map<string, Getter>();
const view: Record<string, unknown> = {};

export function exposeField(name: string, get: Getter): void {
  fields.set(name, get);
  Object.defineProperty(view, name, {
    enumerable: true,
    configurable: true,
    get: () => structuredCloneSafe(get()),
  });
}

export function installShardscope(target: Window & typeof globalThis): void {
  Object.defineProperty(target, 'shardscope', { value: view, writable: false, configurable: false });
}

function structuredCloneSafe(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

declare global {
  interface Window {
    readonly shardscope: Readonly<Record<string, unknown>>;
  }
}
