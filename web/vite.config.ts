import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// Served by the hakone binary at /ui/ (src/console); `npm run dev` proxies the APIs to a
// console running on 127.0.0.1:8090.
export default defineConfig({
  base: '/ui/',
  plugins: [preact()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1500 },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8090',
      '/es': 'http://127.0.0.1:8090',
    },
  },
  test: { environment: 'node', include: ['test/**/*.test.ts'] },
} as any);
