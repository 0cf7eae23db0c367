// GitLab's trigger API takes a form, not JSON: `curl -F token=... -F ref=main -F
// "variables[DEPLOY]=true"` (multipart) or the same fields URL-encoded, and CI scripts written for
// GitLab send exactly that. This scope reads both forms into the JSON body the trigger route
// validates, so a form gets the same checks and the same errors as JSON.

import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A multipart trigger's fields at most, and the bytes of each: its whole body stays under their product. */
const FORM_FIELDS = 210;
const FORM_FIELD_BYTES = 65_536;
/** What a multipart form may hold; busboy reads it as a stream, out of Fastify's bodyLimit (overload/body-limits.ts). */
export const TRIGGER_FORM_LIMIT = FORM_FIELDS * FORM_FIELD_BYTES;

/** A field of the form `variables[KEY]`. */
const VARIABLE_FIELD = /^variables\[(.*)\]$/s;

/** The JSON body of a trigger from a form's fields: `variables[K]=V` become `variables: {K: V}`; any other field stays as it is, for the schema to accept or refuse. */
export function triggerBodyOfForm(fields: Iterable<[string, unknown]>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  let variables: Record<string, unknown> | null = null;
  for (const [name, value] of fields) {
    const v = VARIABLE_FIELD.exec(name);
    if (v) (variables ??= {})[v[1]!] = value;
    else body[name] = value;
  }
  if (variables) body.variables = variables;
  return body;
}

/** Lets the routes registered on `scope` after this take the trigger's forms as well as JSON. */
export async function acceptTriggerForms(scope: FastifyInstance): Promise<void> {
  // The route's bodyLimit (1 MiB) holds for this form as for JSON.
  scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, text, done) => {
    done(null, triggerBodyOfForm(new URLSearchParams(text as string)));
  });
  // Fields only: a file in a trigger is refused (413), as are more fields than variables may be.
  await scope.register(multipart, { attachFieldsToBody: 'keyValues', limits: { files: 0, fields: FORM_FIELDS, fieldSize: FORM_FIELD_BYTES, parts: FORM_FIELDS } });
  scope.addHook('preValidation', async (request: FastifyRequest) => {
    if (request.isMultipart()) request.body = triggerBodyOfForm(Object.entries((request.body ?? {}) as Record<string, unknown>));
  });
}
