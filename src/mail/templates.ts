import { Eta } from 'eta';
// The one lookup of views/ (sources and compiled dist/ alike).
import { viewsDir } from '../views/render.js';

// The HTML part escapes (`<%= %>`); the text part is plain text, where escaping would mangle links.
const html = new Eta({ views: viewsDir, autoEscape: true, cache: true });
const text = new Eta({ views: viewsDir, autoEscape: false, cache: true });

/** The mails Gatehouse sends: views/mail/<name>.text.eta and views/mail/<name>.html.eta. */
export type MailTemplate = 'verify-email' | 'password-reset';

export interface RenderedMail {
  text: string;
  html: string;
}

export function renderMail(template: MailTemplate, data: Record<string, unknown>): RenderedMail {
  return {
    text: text.render(`mail/${template}.text.eta`, data),
    html: html.render(`mail/${template}.html.eta`, data),
  };
}
