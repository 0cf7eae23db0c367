// Branded ids: a job id passed where a pipeline id is expected is a compile error, not a bug.
declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type ProjectId = Brand<number, 'ProjectId'>;
export type PipelineId = Brand<number, 'PipelineId'>;
export type JobId = Brand<number, 'JobId'>;
export type AttemptId = Brand<number, 'AttemptId'>;

export const asProjectId = (n: number) => n as ProjectId;
export const asPipelineId = (n: number) => n as PipelineId;
export const asJobId = (n: number) => n as JobId;
export const asAttemptId = (n: number) => n as AttemptId;
