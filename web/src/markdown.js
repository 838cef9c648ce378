// @ts-check
/**
 * Model replies as markdown (marked), sanitised (DOMPurify) before they reach the page:
 * a reply is text from a model that may have read anything, so it must not run script.
 */

import { marked } from 'marked';
import DOMPurify from 'dompurify';

marked.setOptions({ gfm: true, breaks: true });

// Links open in a new tab and tell the target nothing about this page.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/**
 * Safe HTML for `text`. Images become links: the page's content security policy would block
 * any from elsewhere, and a reply should not fetch anything by merely being shown.
 * @param {string} text
 * @returns {string}
 */
export function renderMarkdown(text) {
  const unsafe = /** @type {string} */ (marked.parse(text, { async: false }));
  const fragment = DOMPurify.sanitize(unsafe, {
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'],
    FORBID_ATTR: ['style'],
    RETURN_DOM_FRAGMENT: true,
  });
  for (const image of fragment.querySelectorAll('img')) {
    const source = image.getAttribute('src') || '';
    const label = image.getAttribute('alt') || source || 'image';
    const replacement = document.createElement(/^https?:/i.test(source) ? 'a' : 'span');
    if (replacement instanceof HTMLAnchorElement) {
      replacement.href = source;
      replacement.target = '_blank';
      replacement.rel = 'noopener noreferrer';
    }
    replacement.textContent = `[image: ${label}]`;
    image.replaceWith(replacement);
  }
  const holder = document.createElement('div');
  holder.append(fragment);
  return holder.innerHTML;
}
