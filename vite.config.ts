import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * index.html carries the production Content-Security-Policy. The dev server needs two exceptions,
 * and only it gets them: vite injects CSS as <style> elements from JS ('unsafe-inline' styles) and
 * its HMR client talks over a WebSocket (ws:). Build and preview serve the strict policy unchanged.
 */
function devCsp(): Plugin {
  return {
    name: 'shardscope-dev-csp',
    apply: 'serve',
    transformIndexHtml(html) {
      return html.replace(/(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")/, (_m, open: string, policy: string, close: string) => {
        const relaxed = policy.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace("connect-src 'self'", "connect-src 'self' ws: wss:");
        return `${open}${relaxed}${close}`;
      });
    },
  };
}

// A relative base makes `vite build` a static folder that runs from any sub-path
// (GitHub Pages, a slide deck's folder) and from `vite preview`.
export default defineConfig({
  base: './',
  plugins: [devCsp()],
  // lil-gui's stylesheet is not in its package exports; main.ts imports it as a file (see devCsp's note on CSP).
  resolve: { alias: { 'lil-gui/dist/lil-gui.css': fileURLToPath(new URL('./node_modules/lil-gui/dist/lil-gui.css', import.meta.url)) } },
  server: { port: 5173, strictPort: false },
  // One 1 MB chunk on purpose (three.js + WebGPURenderer is most of it): the page needs all of it to
  // draw its first frame, and it makes no network requests beyond its own files. Plugin timings are
  // rolldown's build-speed hints, not problems of the app: kept out of the test log.
  build: { target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 1500, rolldownOptions: { checks: { pluginTimings: false } } },
});
