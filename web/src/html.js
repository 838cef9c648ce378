// @ts-check
/** `html`: JSX-like tagged templates for Preact, through htm, so no build step is needed. */

import { h } from 'preact';
import htm from 'htm';

/** Renders a tagged template to Preact elements. */
export const html = htm.bind(h);
