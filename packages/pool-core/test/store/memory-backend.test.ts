// The memory backend under a real pool: code built on the pool can be tested without a disk. And a backend that
// cannot watch is refused, since the pool follows its document only through watch().
import { describe, expect, it } from "vitest";
import { createMemoryBackend, isPoolError, openPool, type PoolBackend } from "@credpool/pool-core";

describe("a pool on the memory backend", () => {
  it("adds, leases and releases without a disk, and a second pool on the same name sees the usage", async () => {
    const name = `memory-pool-${process.pid}-${Date.now()}`;
    const pool = await openPool({ backend: createMemoryBackend({ name }) });
    const other = await openPool({ backend: createMemoryBackend({ name }) });
    try {
      const added = await pool.add({
        provider: "openai",
        label: "work",
        secrets: { apiKey: "sk-memory-0123456789abcdef" },
      });
      const lease = await pool.lease("openai");
      expect(lease.credentialId).toBe(added.id);
      expect(lease.token).toBe("sk-memory-0123456789abcdef");
      await lease.release();
      await pool.flush();
      const { doc } = await other.backend.read();
      expect(
        doc.providers.openai?.credentials.map((credential) => [credential.label, credential.usage.requests]),
      ).toEqual([["work", 1]]);
      expect(other.list("openai").map((view) => view.credential.label)).toEqual(["work"]);
    } finally {
      await pool.close();
      await other.close();
    }
  });

  it("keeps an unnamed memory pool private to its handle", async () => {
    const pool = await openPool({ backend: createMemoryBackend() });
    try {
      await pool.add({ provider: "openai", secrets: { apiKey: "sk-memory-private-0123456789" } });
      expect((await createMemoryBackend().read()).doc.providers).toEqual({});
    } finally {
      await pool.close();
    }
  });

  it("rejects unknown options with E_INVALID_OPTIONS naming the option", () => {
    let error: unknown;
    try {
      createMemoryBackend({ path: "/tmp/pool.json" } as never);
    } catch (caught) {
      error = caught;
    }
    expect(isPoolError(error, "E_INVALID_OPTIONS")).toBe(true);
    expect((error as Error).message).toContain("path");
  });
});

describe("backend capabilities", () => {
  it("refuses to open a pool on a backend that cannot watch, naming the backend", async () => {
    const memory = createMemoryBackend();
    const blind: PoolBackend = { ...memory, kind: "blind", capabilities: { ...memory.capabilities, watch: false } };
    const opening = openPool({ backend: blind });
    await expect(opening).rejects.toMatchObject({ code: "E_INVALID_OPTIONS" });
    await expect(opening).rejects.toThrow(/blind backend .*capabilities\.watch is false/);
  });
});
