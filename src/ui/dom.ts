// Tiny DOM helpers. Text only: nothing here ever sets innerHTML, since some text quotes the URL.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/**
 * Sets an element's text. A sole text child is rewritten in place: `textContent =` would replace
 * it, and the browser then drops its layout object and builds a new one (826 such replacements in
 * 10 parameter changes at 64 ranks, before this).
 */
export function setText(node: Element, text: string): void {
  const only = node.firstChild;
  if (only !== null && only === node.lastChild && only.nodeType === Node.TEXT_NODE) {
    if ((only as Text).data !== text) (only as Text).data = text;
  } else if (node.textContent !== text) node.textContent = text;
}

/** Sets an attribute unless it already has the value: every write invalidates the element's style. */
export function setAttr(node: Element, name: string, value: string): void {
  if (node.getAttribute(name) !== value) node.setAttribute(name, value);
}

const builtFrom = new WeakMap<Element, string>();

/**
 * Replaces `parent`'s children with `build()`'s, unless `key` (a summary of everything the
 * children show) equals the last build's: new nodes cost a style, layout and paint even when
 * they read the same.
 */
export function replaceChildrenUnlessSame(parent: Element, key: string, build: () => (Node | string)[]): void {
  if (builtFrom.get(parent) === key) return;
  builtFrom.set(parent, key);
  parent.replaceChildren(...build());
}
