import { describe, expect, it } from "vitest";
import { TposAppVersion } from "./app-version.js";

describe("TposAppVersion", () => {
  it("starts from the configured version", () => {
    expect(new TposAppVersion("6.5.14.1").value).toBe("6.5.14.1");
  });

  it("adopts a four-part version TPOS announces", () => {
    const version = new TposAppVersion("6.5.14.1");
    version.learn("6.6.0.3");
    expect(version.value).toBe("6.6.0.3");
  });

  it.each([undefined, "", "6.6", "6.6.0", "6.6.0.3-beta", "v6.6.0.3", "6.6.0.3, 6.6.0.4"])(
    "ignores the announced value %j",
    (announced) => {
      const version = new TposAppVersion("6.5.14.1");
      version.learn(announced);
      expect(version.value).toBe("6.5.14.1");
    },
  );
});
