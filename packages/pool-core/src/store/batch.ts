// The part of a group commit every backend shares: apply a batch of mutators, validate the result, and when it is
// invalid find the culprits one by one so the valid updates of the same batch still land.

export interface Applied<D, Op> {
  doc: D;
  applied: Op[];
  failed: Array<[Op, unknown]>;
}

export type Checked<D> = { ok: true; doc: D } | { ok: false; error: unknown };

/**
 * `apply` runs mutators on a base (each backend has its own way of drafting); `validate` checks a result. Returns
 * the valid document, the operations it holds, and each rejected operation with its reason (its own error, or
 * why the document it made was invalid).
 */
export function applyValidBatch<D, Op>(
  base: D,
  batch: Op[],
  apply: (base: D, batch: Op[]) => Applied<D, Op>,
  validate: (doc: D) => Checked<D>,
): { doc: D; accepted: Op[]; rejected: Array<[Op, unknown]> } {
  const { doc, applied, failed } = apply(base, batch);
  const rejected = [...failed];
  if (applied.length === 0) return { doc: base, accepted: [], rejected };
  const checked = validate(doc);
  if (checked.ok) return { doc: checked.doc, accepted: applied, rejected };
  const accepted: Op[] = [];
  let next = base;
  for (const op of applied) {
    const single = apply(next, [op]);
    const one = validate(single.doc);
    if (single.applied.length === 1 && one.ok) {
      next = one.doc;
      accepted.push(op);
    } else {
      rejected.push([op, one.ok ? single.failed[0]?.[1] : one.error]);
    }
  }
  return { doc: next, accepted, rejected };
}
