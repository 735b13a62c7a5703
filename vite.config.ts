import { defineConfig } from 'vite';

// A relative base makes `vite build` a static folder that runs from any sub-path
// (GitHub Pages, a slide deck's folder) and from `vite preview`.
export default defineConfig({
  base: './',
  server: { port: 5173, strictPort: false },
  build: { target: 'es2022', sourcemap: true },
});
