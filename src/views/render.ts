import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

const viewsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

// autoEscape is on: `<%= %>` escapes; nothing here uses the raw `<%~ %>` form except layout slots.
const eta = new Eta({ views: viewsDir, autoEscape: true, cache: true });

export interface PageData {
  title: string;
  [key: string]: unknown;
}

export function renderPage(view: string, data: PageData): string {
  return eta.render(view, data);
}
