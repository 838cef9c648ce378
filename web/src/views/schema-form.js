// @ts-check
/**
 * A form generated from a plugin's input JSON Schema: strings (enums as selects), numbers,
 * booleans, nested objects, arrays, `oneOf`/`anyOf` and type unions as a choice of variant,
 * local `$ref`s. What the form cannot express gets a JSON box; the raw-JSON mode of the
 * plugin page covers the rest. The form edits one JSON value; empty optional fields are
 * left out of it.
 */

import { useState } from 'preact/hooks';

import { html } from '../html.js';

/**
 * @typedef {object} FieldProps
 * @property {any} schema
 * @property {any} root the whole schema, for `$ref`
 * @property {any} value
 * @property {(value: any) => void} onChange
 * @property {string} id a unique id for the control
 * @property {string} label
 * @property {boolean} [required]
 */

/** @param {unknown} value */
const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

/**
 * `schema` with local `$ref`s followed and `allOf` merged.
 * @param {any} schema
 * @param {any} root
 * @returns {any}
 */
export function resolve(schema, root) {
  let current = schema;
  for (let depth = 0; depth < 32 && current && typeof current === 'object' && typeof current.$ref === 'string'; depth++) {
    const ref = current.$ref;
    if (!ref.startsWith('#')) break;
    let target = root;
    for (const part of ref.slice(1).split('/').filter(Boolean)) {
      target = target && target[part.replace(/~1/g, '/').replace(/~0/g, '~')];
    }
    if (!target || typeof target !== 'object') break;
    const { $ref: _ref, ...rest } = current;
    current = { ...target, ...rest };
  }
  if (current && Array.isArray(current.allOf)) {
    const { allOf, ...rest } = current;
    const merged = { ...rest, properties: { ...(rest.properties || {}) }, required: [...(rest.required || [])] };
    for (const part of allOf) {
      const piece = resolve(part, root);
      Object.assign(merged.properties, piece.properties || {});
      merged.required.push(...(piece.required || []));
      for (const key of ['type', 'description', 'title']) if (merged[key] === undefined && piece[key] !== undefined) merged[key] = piece[key];
    }
    current = merged;
  }
  return current && typeof current === 'object' ? current : {};
}

/**
 * The variants a value may take, or `null` for a schema of one shape.
 * @param {any} schema resolved
 * @returns {{label: string, schema: any}[] | null}
 */
export function variants(schema) {
  const list = schema.oneOf || schema.anyOf;
  if (Array.isArray(list) && list.length > 0) {
    const { oneOf: _one, anyOf: _any, ...base } = schema;
    return list.map((variant, index) => {
      const merged = { ...base, ...variant };
      return { label: variant.title || describeType(merged) || `Variant ${index + 1}`, schema: merged };
    });
  }
  if (Array.isArray(schema.type) && schema.type.length > 1) {
    return schema.type.map((/** @type {string} */ type) => ({ label: type === 'string' ? 'text (string)' : type, schema: { ...schema, type } }));
  }
  return null;
}

/** @param {any} schema */
function describeType(schema) {
  const type = typeOf(schema);
  if (type === 'string') return schema.enum ? 'choice' : 'text (string)';
  if (type === 'any') return '';
  return type;
}

/**
 * The one JSON type a (variant-free) schema describes, `any` when it says nothing.
 * @param {any} schema
 */
export function typeOf(schema) {
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(schema.enum) && schema.enum.length) return jsonType(schema.enum[0]);
  if ('const' in schema) return jsonType(schema.const);
  if (schema.properties) return 'object';
  if (schema.items) return 'array';
  return 'any';
}

/** @param {unknown} value */
function jsonType(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (Number.isInteger(value)) return 'integer';
  return typeof value;
}

/**
 * The value a new field of `schema` starts with.
 * @param {any} schema
 * @param {any} root
 * @returns {any}
 */
export function defaultFor(schema, root) {
  const s = resolve(schema, root);
  if ('default' in s) return clone(s.default);
  if ('const' in s) return clone(s.const);
  const options = variants(s);
  if (options) return defaultFor(options[0].schema, root);
  switch (typeOf(s)) {
    case 'object': {
      /** @type {Record<string, any>} */
      const value = {};
      const required = new Set(s.required || []);
      for (const [name, property] of Object.entries(s.properties || {})) {
        const resolved = resolve(property, root);
        if ('default' in resolved || required.has(name)) {
          const initial = defaultFor(resolved, root);
          if (initial !== undefined) value[name] = initial;
        }
      }
      return value;
    }
    case 'array':
      return [];
    case 'string':
      return Array.isArray(s.enum) ? s.enum[0] : '';
    case 'boolean':
      return false;
    case 'null':
      return null;
    default:
      return undefined;
  }
}

/**
 * Whether `value` fits a variant's type (enough to pick which variant a value shows in).
 * @param {any} schema
 * @param {unknown} value
 */
function fits(schema, value) {
  const type = typeOf(schema);
  const actual = jsonType(value);
  return type === actual || (type === 'number' && actual === 'integer') || type === 'any';
}

/** @param {string} text */
const idPart = (text) => text.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * The form for `schema`, editing `value`.
 * @param {FieldProps} props
 */
export function SchemaField(props) {
  const schema = resolve(props.schema, props.root);
  const options = variants(schema);
  if (options) return html`<${VariantField} ...${props} schema=${schema} options=${options} />`;
  switch (typeOf(schema)) {
    case 'object':
      return schema.properties ? html`<${ObjectField} ...${props} schema=${schema} />` : html`<${JsonField} ...${props} schema=${schema} />`;
    case 'array':
      return schema.items && !Array.isArray(schema.items) ? html`<${ArrayField} ...${props} schema=${schema} />` : html`<${JsonField} ...${props} schema=${schema} />`;
    case 'string':
      return html`<${StringField} ...${props} schema=${schema} />`;
    case 'number':
    case 'integer':
      return html`<${NumberField} ...${props} schema=${schema} />`;
    case 'boolean':
      return html`<${BooleanField} ...${props} schema=${schema} />`;
    case 'null':
      return html`<p class="muted small">${props.label}: null</p>`;
    default:
      return html`<${JsonField} ...${props} schema=${schema} />`;
  }
}

/** @param {{id: string, schema: any}} props */
function Hint({ id, schema }) {
  return schema.description ? html`<span class="hint" id=${`${id}-hint`}>${schema.description}</span>` : null;
}

/** @param {{label: string, required?: boolean}} props */
function LabelText({ label, required }) {
  return html`${label}${required ? html`<span aria-hidden="true"> *</span><span class="sr-only"> (required)</span>` : ''}`;
}

/** @param {FieldProps & {options: {label: string, schema: any}[]}} props */
function VariantField(props) {
  const { options, value, onChange, id, label, root } = props;
  const [choice, setChoice] = useState(() => {
    const index = options.findIndex((o) => fits(resolve(o.schema, root), value));
    return index < 0 ? 0 : index;
  });
  const current = Math.min(choice, options.length - 1);
  /** @param {Event} event */
  const pick = (event) => {
    const index = Number(/** @type {HTMLSelectElement} */ (event.currentTarget).value);
    setChoice(index);
    onChange(defaultFor(options[index].schema, root));
  };
  return html`<div class="stack variant">
    <div class="field">
      <label for=${`${id}-variant`}>${label}: kind of value</label>
      <select id=${`${id}-variant`} value=${String(current)} onChange=${pick}>
        ${options.map((o, index) => html`<option value=${String(index)}>${o.label}</option>`)}
      </select>
    </div>
    <${SchemaField} ...${props} key=${current} schema=${options[current].schema} />
  </div>`;
}

/**
 * The properties of an object schema in the order a form reads best: required ones first,
 * then single values, then nested objects and lists (servers may hand the schema over with its
 * keys sorted, so the author's order is not always there to keep).
 * @param {any} schema
 * @param {any} root
 * @returns {[string, any][]}
 */
function fieldOrder(schema, root) {
  const required = new Set(schema.required || []);
  const rank = (/** @type {string} */ name, /** @type {any} */ property) => {
    const type = typeOf(resolve(property, root));
    return (required.has(name) ? 0 : 2) + (type === 'object' || type === 'array' || type === 'any' ? 1 : 0);
  };
  return Object.entries(schema.properties)
    .map((entry, index) => ({ entry, index, rank: rank(entry[0], entry[1]) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((item) => item.entry);
}

/** @param {FieldProps} props */
function ObjectField({ schema, root, value, onChange, id, label, required }) {
  const object = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  const requiredNames = new Set(schema.required || []);
  /**
   * @param {string} name
   * @param {any} next
   */
  const set = (name, next) => {
    const copy = { ...object };
    if (next === undefined) delete copy[name];
    else copy[name] = next;
    onChange(copy);
  };
  return html`<fieldset data-field=${id}>
    <legend><${LabelText} label=${label} required=${required} /></legend>
    ${schema.description && html`<span class="hint muted small">${schema.description}</span>`}
    ${fieldOrder(schema, root).map(
      ([name, property]) => html`<${SchemaField}
        key=${name}
        schema=${property}
        root=${root}
        value=${object[name]}
        onChange=${(/** @type {any} */ next) => set(name, next)}
        id=${`${id}-${idPart(name)}`}
        label=${resolve(property, root).title || name}
        required=${requiredNames.has(name)}
      />`,
    )}
  </fieldset>`;
}

/** @param {FieldProps} props */
function ArrayField({ schema, root, value, onChange, id, label, required }) {
  const list = Array.isArray(value) ? value : [];
  /**
   * @param {number} index
   * @param {any} next
   */
  const set = (index, next) => onChange(list.map((item, i) => (i === index ? next : item)));
  return html`<fieldset data-field=${id}>
    <legend><${LabelText} label=${label} required=${required} /></legend>
    ${schema.description && html`<span class="hint muted small">${schema.description}</span>`}
    ${list.length === 0 && html`<span class="muted small">No items.</span>`}
    ${list.map(
      (item, index) => html`<div class="array-item" key=${index}>
        <${SchemaField}
          schema=${schema.items}
          root=${root}
          value=${item}
          onChange=${(/** @type {any} */ next) => set(index, next)}
          id=${`${id}-${index}`}
          label=${`${label} ${index + 1}`}
        />
        <button type="button" class="small" aria-label=${`Remove ${label} ${index + 1}`} onClick=${() => onChange(list.filter((_, i) => i !== index))}>Remove</button>
      </div>`,
    )}
    <div><button type="button" class="small" data-add=${id} onClick=${() => onChange([...list, defaultFor(schema.items, root)])}>Add to ${label}</button></div>
  </fieldset>`;
}

/** @param {FieldProps} props */
function StringField({ schema, value, onChange, id, label, required }) {
  const text = typeof value === 'string' ? value : '';
  /** @param {string} next */
  const set = (next) => onChange(next === '' && !required ? undefined : next);
  const described = schema.description ? `${id}-hint` : undefined;
  if (Array.isArray(schema.enum)) {
    return html`<div class="field">
      <label for=${id}><${LabelText} label=${label} required=${required} /></label>
      <select id=${id} value=${text} aria-describedby=${described} onChange=${(/** @type {Event} */ e) => set(/** @type {HTMLSelectElement} */ (e.currentTarget).value)}>
        ${!required && html`<option value="">(none)</option>`}
        ${schema.enum.map((/** @type {unknown} */ option) => html`<option value=${String(option)}>${String(option)}</option>`)}
      </select>
      <${Hint} id=${id} schema=${schema} />
    </div>`;
  }
  const long = (schema.maxLength ?? Infinity) > 200 && (schema.format === 'textarea' || /text|code|content|body|prompt|message|script/i.test(label));
  /** @param {Event} e */
  const onInput = (e) => set(/** @type {HTMLInputElement} */ (e.currentTarget).value);
  return html`<div class="field">
    <label for=${id}><${LabelText} label=${label} required=${required} /></label>
    ${long
      ? html`<textarea id=${id} rows="3" value=${text} aria-describedby=${described} onInput=${onInput}></textarea>`
      : html`<input id=${id} type="text" value=${text} aria-describedby=${described} placeholder=${schema.examples?.[0] ?? ''} onInput=${onInput} />`}
    <${Hint} id=${id} schema=${schema} />
  </div>`;
}

/** @param {FieldProps} props */
function NumberField({ schema, value, onChange, id, label, required }) {
  const integer = typeOf(schema) === 'integer';
  /** @param {Event} e */
  const onInput = (e) => {
    const text = /** @type {HTMLInputElement} */ (e.currentTarget).value;
    const number = Number(text);
    onChange(text === '' || !Number.isFinite(number) ? undefined : number);
  };
  return html`<div class="field">
    <label for=${id}><${LabelText} label=${label} required=${required} /></label>
    <input
      id=${id}
      type="number"
      step=${integer ? '1' : 'any'}
      min=${schema.minimum}
      max=${schema.maximum}
      value=${typeof value === 'number' ? String(value) : ''}
      aria-describedby=${schema.description ? `${id}-hint` : undefined}
      onInput=${onInput}
    />
    <${Hint} id=${id} schema=${schema} />
  </div>`;
}

/** @param {FieldProps} props */
function BooleanField({ schema, value, onChange, id, label }) {
  return html`<div class="field">
    <span class="check">
      <input id=${id} type="checkbox" checked=${value === true} aria-describedby=${schema.description ? `${id}-hint` : undefined} onChange=${(/** @type {Event} */ e) => onChange(/** @type {HTMLInputElement} */ (e.currentTarget).checked)} />
      <label for=${id}>${label}</label>
    </span>
    <${Hint} id=${id} schema=${schema} />
  </div>`;
}

/** @param {FieldProps} props */
function JsonField({ schema, value, onChange, id, label, required }) {
  const [text, setText] = useState(value === undefined ? '' : JSON.stringify(value, null, 2));
  const [error, setError] = useState('');
  /** @param {Event} e */
  const onInput = (e) => {
    const next = /** @type {HTMLTextAreaElement} */ (e.currentTarget).value;
    setText(next);
    if (next.trim() === '') {
      setError('');
      onChange(undefined);
      return;
    }
    try {
      onChange(JSON.parse(next));
      setError('');
    } catch (failure) {
      setError(failure instanceof Error ? failure.message : String(failure));
    }
  };
  return html`<div class="field">
    <label for=${id}><${LabelText} label=${label} required=${required} /> <span class="hint">(JSON)</span></label>
    <textarea id=${id} class="mono" rows="3" value=${text} aria-invalid=${error ? 'true' : 'false'} aria-describedby=${`${id}-hint`} onInput=${onInput}></textarea>
    <span class="hint" id=${`${id}-hint`}>${error ? `Not JSON yet: ${error}` : schema.description || 'Any JSON value.'}</span>
  </div>`;
}
