// A failed request as Consul answers it: thrown by the catalog and agent endpoints, sent by the router.

/** A failed request: the status and body Consul answers with. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const bad = (message: string) => new ApiError(400, message);
export const denied = () => new ApiError(403, 'Permission denied');
