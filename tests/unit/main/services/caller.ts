// Calls the services through dispatch, as every transport does: `call` unwraps a result or
// throws an error that keeps the code; `refusedWith` asserts a refusal with a given code.
import assert from 'node:assert/strict';
import type { ApiMethod } from '../../../../src-shared/api/contract';
import { dispatch, type Services } from '../../../../src-main/services';

export function caller(services: () => Services): {
  call: <T = unknown>(method: ApiMethod, args: unknown) => Promise<T>;
  refusedWith: (code: string, method: ApiMethod, args: unknown) => Promise<string>;
} {
  return {
    async call<T>(method: ApiMethod, args: unknown): Promise<T> {
      const result = await dispatch(services().api, method, args);
      if (!result.ok) throw Object.assign(new Error(result.error.message), { code: result.error.code });
      return result.value as T;
    },
    async refusedWith(code: string, method: ApiMethod, args: unknown): Promise<string> {
      const result = await dispatch(services().api, method, args);
      assert.equal(result.ok, false, `${method} should fail with ${code}`);
      if (result.ok) return '';
      assert.equal(result.error.code, code, result.error.message);
      return result.error.message;
    },
  };
}
