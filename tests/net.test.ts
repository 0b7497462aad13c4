import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  AF_INET,
  AF_INET6,
  AF_LOCAL,
  SOCK_DGRAM,
  SOCK_STREAM,
  formatAddr,
  isNetAddr,
  netaddr_ipv4,
  netaddr_ipv6,
  netaddr_local,
  parseAddr,
  type NetAddr,
} from "../stdlib/net.ts";

/** Lets a test pass a value of the wrong type, as an untyped caller could. */
const bad = (value: unknown) => value as never;

describe("constants", () => {
  test("have the documented values", () => {
    assert.deepEqual([AF_INET, AF_INET6, AF_LOCAL, SOCK_STREAM, SOCK_DGRAM], ["inet", "inet6", "local", "stream", "dgram"]);
  });
});

describe("netaddr_ipv4", () => {
  test("returns a frozen plain address", () => {
    const addr = netaddr_ipv4("127.0.0.1", 8010);
    assert.deepEqual(addr, { family: "inet", ip: "127.0.0.1", port: 8010 });
    assert.equal(Object.getPrototypeOf(addr), Object.prototype);
    assert.ok(Object.isFrozen(addr));
  });

  test("accepts the port bounds", () => {
    assert.equal(netaddr_ipv4("0.0.0.0", 0).port, 0);
    assert.equal(netaddr_ipv4("255.255.255.255", 65535).port, 65535);
  });

  test("rejects a host name with a message naming ip and the value given", () => {
    assert.throws(() => netaddr_ipv4("localhost", 80), {
      name: "TypeError",
      message: 'netaddr_ipv4(ip, port): ip must be an IPv4 address such as "127.0.0.1", got "localhost"',
    });
  });

  test("rejects IPv6 text and non-strings as ip", () => {
    for (const ip of ["::1", "256.0.0.1", "1.2.3", "", 2130706433, null]) {
      assert.throws(() => netaddr_ipv4(bad(ip), 80), { name: "TypeError", message: /ip must be an IPv4 address/ });
    }
  });

  test("rejects a port above 65535 with a message naming port and the value given", () => {
    assert.throws(() => netaddr_ipv4("127.0.0.1", 70000), {
      name: "TypeError",
      message: "netaddr_ipv4(ip, port): port must be an integer from 0 to 65535, got 70000",
    });
  });

  test("rejects strings, NaN, floats, negatives and Infinity as port", () => {
    for (const port of ["80", NaN, 80.5, -1, 65536, Infinity, undefined]) {
      assert.throws(() => netaddr_ipv4("127.0.0.1", bad(port)), { name: "TypeError", message: /port must be an integer from 0 to 65535/ });
    }
  });

  test("says which value was given for a string port", () => {
    assert.throws(() => netaddr_ipv4("127.0.0.1", bad("80")), { message: /got "80"$/ });
  });
});

describe("netaddr_ipv6", () => {
  test("returns a frozen plain address", () => {
    const addr = netaddr_ipv6("::1", 8010);
    assert.deepEqual(addr, { family: "inet6", ip: "::1", port: 8010 });
    assert.ok(Object.isFrozen(addr));
  });

  test("rejects an IPv4 address with a message naming ip", () => {
    assert.throws(() => netaddr_ipv6("127.0.0.1", 80), {
      name: "TypeError",
      message: 'netaddr_ipv6(ip, port): ip must be an IPv6 address such as "::1", got "127.0.0.1"',
    });
  });

  test("rejects a bad port", () => {
    assert.throws(() => netaddr_ipv6("::1", -1), {
      name: "TypeError",
      message: "netaddr_ipv6(ip, port): port must be an integer from 0 to 65535, got -1",
    });
  });
});

describe("netaddr_local", () => {
  test("returns a frozen plain address", () => {
    const addr = netaddr_local("/tmp/luanet.sock");
    assert.deepEqual(addr, { family: "local", path: "/tmp/luanet.sock" });
    assert.ok(Object.isFrozen(addr));
  });

  test("rejects an empty path, a NUL byte and non-strings", () => {
    for (const path of ["", "/tmp/a\0b", 42, undefined]) {
      assert.throws(() => netaddr_local(bad(path)), {
        name: "TypeError",
        message: /^netaddr_local\(path\): path must be a non-empty string without NUL bytes, got /,
      });
    }
  });

  test("accepts 107 bytes and rejects 108, counting bytes not characters", () => {
    assert.equal(netaddr_local("/" + "a".repeat(106)).path.length, 107);
    assert.throws(() => netaddr_local("/" + "a".repeat(107)), {
      name: "TypeError",
      message: "netaddr_local(path): path must be at most 107 bytes (the Linux socket path limit), got 108 bytes",
    });
    assert.throws(() => netaddr_local("/" + "é".repeat(54)), { name: "TypeError", message: /got 109 bytes/ });
  });
});

describe("formatAddr", () => {
  test("formats each family", () => {
    assert.equal(formatAddr(netaddr_ipv4("127.0.0.1", 8010)), "127.0.0.1:8010");
    assert.equal(formatAddr(netaddr_ipv6("::1", 8010)), "[::1]:8010");
    assert.equal(formatAddr(netaddr_local("/tmp/x.sock")), "unix:/tmp/x.sock");
  });
});

describe("parseAddr", () => {
  test("reads each form", () => {
    assert.deepEqual(parseAddr("127.0.0.1:8010"), { family: "inet", ip: "127.0.0.1", port: 8010 });
    assert.deepEqual(parseAddr("[::1]:8010"), { family: "inet6", ip: "::1", port: 8010 });
    assert.deepEqual(parseAddr("unix:/tmp/x.sock"), { family: "local", path: "/tmp/x.sock" });
    assert.deepEqual(parseAddr("/tmp/x.sock"), { family: "local", path: "/tmp/x.sock" });
  });

  test("returns frozen addresses", () => {
    assert.ok(Object.isFrozen(parseAddr("10.0.0.1:1")));
  });

  test("round-trips formatAddr for all three families", () => {
    const addrs: NetAddr[] = [netaddr_ipv4("10.1.2.3", 0), netaddr_ipv6("fe80::1:2", 65535), netaddr_local("/run/luanet/ns.sock")];
    for (const addr of addrs) assert.deepEqual(parseAddr(formatAddr(addr)), addr);
    for (const text of ["10.1.2.3:0", "[fe80::1:2]:65535", "unix:/run/luanet/ns.sock"]) assert.equal(formatAddr(parseAddr(text)), text);
  });

  test("rejects text in no known form", () => {
    for (const text of ["127.0.0.1", "127.0.0.1:", ":80", "::1:80", "[::1]", "1.2.3.4:http", "tmp/x.sock", ""]) {
      assert.throws(() => parseAddr(text), {
        name: "TypeError",
        message: /^parseAddr\(text\): expected "ipv4:port", "\[ipv6\]:port", "unix:\/path" or "\/path", got /,
      });
    }
    assert.throws(() => parseAddr(bad(8010)), { name: "TypeError", message: /got 8010$/ });
  });

  test("reports a bad part of a well-formed address", () => {
    assert.throws(() => parseAddr("localhost:8010"), {
      name: "TypeError",
      message: 'parseAddr(text): ip must be an IPv4 address such as "127.0.0.1", got "localhost"',
    });
    assert.throws(() => parseAddr("[127.0.0.1]:8010"), { name: "TypeError", message: /ip must be an IPv6 address/ });
    assert.throws(() => parseAddr("127.0.0.1:70000"), {
      name: "TypeError",
      message: "parseAddr(text): port must be an integer from 0 to 65535, got 70000",
    });
    assert.throws(() => parseAddr("unix:"), { name: "TypeError", message: /path must be a non-empty string/ });
  });
});

describe("isNetAddr", () => {
  test("accepts addresses from the constructors and equivalent plain objects", () => {
    assert.ok(isNetAddr(netaddr_ipv4("127.0.0.1", 1)));
    assert.ok(isNetAddr(netaddr_ipv6("::", 1)));
    assert.ok(isNetAddr(netaddr_local("/x")));
    assert.ok(isNetAddr({ family: "inet", ip: "127.0.0.1", port: 8010 }));
    assert.ok(isNetAddr({ family: "local", path: "/tmp/x.sock" }));
  });

  test("rejects anything else", () => {
    const notAddrs: unknown[] = [
      null,
      undefined,
      "127.0.0.1:8010",
      {},
      { family: "inet", ip: "localhost", port: 8010 },
      { family: "inet", ip: "::1", port: 8010 },
      { family: "inet6", ip: "127.0.0.1", port: 8010 },
      { family: "inet", ip: "127.0.0.1", port: "8010" },
      { family: "inet", ip: "127.0.0.1", port: 65536 },
      { family: "inet", ip: "127.0.0.1" },
      { family: "local", path: "" },
      { family: "local", path: "/" + "a".repeat(107) },
      { family: "local", ip: "127.0.0.1", port: 1 },
      { family: "unix", path: "/tmp/x.sock" },
    ];
    for (const x of notAddrs) assert.equal(isNetAddr(x), false, JSON.stringify(x));
  });
});
