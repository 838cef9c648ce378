// @ts-check
/**
 * Light and dark themes: the system's choice unless the switch says otherwise, kept in
 * localStorage. The effective theme is `data-theme` on <html>, which the CSS and the charts read.
 */

import { Store } from './store.js';

const THEME_STORAGE = 'codexcontinue.theme';
const dark = matchMedia('(prefers-color-scheme: dark)');

/** @typedef {'system' | 'light' | 'dark'} ThemeChoice */

/** @returns {ThemeChoice} */
function storedChoice() {
  try {
    const value = localStorage.getItem(THEME_STORAGE);
    return value === 'light' || value === 'dark' ? value : 'system';
  } catch {
    return 'system';
  }
}

/** @param {ThemeChoice} choice */
function effective(choice) {
  return choice === 'system' ? (dark.matches ? 'dark' : 'light') : choice;
}

/** @type {Store<{choice: ThemeChoice, theme: 'light' | 'dark'}>} */
export const themeStore = new Store({ choice: storedChoice(), theme: effective(storedChoice()) });

function apply() {
  document.documentElement.dataset.theme = themeStore.get().theme;
}

/** @param {ThemeChoice} choice */
export function chooseTheme(choice) {
  try {
    if (choice === 'system') localStorage.removeItem(THEME_STORAGE);
    else localStorage.setItem(THEME_STORAGE, choice);
  } catch {
    // Without storage the choice lasts for this page.
  }
  themeStore.set({ choice, theme: effective(choice) });
}

themeStore.subscribe(apply);
dark.addEventListener('change', () => {
  const { choice } = themeStore.get();
  themeStore.set({ choice, theme: effective(choice) });
});
apply();
