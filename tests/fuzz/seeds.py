#!/usr/bin/env python3
"""Writes the hand-made seeds of tests/fuzz/corpus/{json,diff,schema}/.

The json seeds include one input per known difference from nlohmann_json
(json_fuzz.cpp). The diff and schema targets read their input with FuzzedDataProvider:
strings come from the front (ConsumeRandomLengthString: a backslash followed
by anything but a backslash ends a string, so a literal backslash is
doubled), booleans and integers from the back. The mask and pipeline seeds
named found_* are inputs the fuzzers found (kept as they are); the long_*
ones are pseudo-random bytes (any bytes are a valid input for them) long
enough for texts that the matcher scans as 2 and 4 streams. Run from
anywhere: python3 tests/fuzz/seeds.py
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fdp_string(s):
    """A ConsumeRandomLengthString field: escape backslashes, then end it."""
    return s.encode("utf-8").replace(b"\\", b"\\\\") + b"\\ "


SYSTEM = ('{"name":"ada","description":null,"metadata":{"tier":1,"tags":["a","b"],'
          '"nested":{"x":[1,2.5,-0,1e21,true,false,null]}}}')
JSON_SEEDS = {
    "system": SYSTEM,
    "escapes": r'{"s":"\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u20ac\ud83d\ude00","":""}',
    "numbers": "[0,-0,0.1,1e21,1e-7,123456789012345678901,4.9e-324,1.7976931348623157e308,1e400,-1E-400,"
               "9007199254740993,0.30000000000000004,5e-324,2.2250738585072014e-308]",
    "keys_utf16_order": '{"\uff5e":1,"\U0001F600":2,"b":3,"B":4,"\u00e9":5,"a":6,"\ue000":7,"a":8}',
    "proto": '{"__proto__":{"polluted":true},"constructor":{"prototype":{}},"x":[{"__proto__":null}]}',
    "deep": "[" * 40 + "{}" + "]" * 40,
    "whitespace": ' \t\n\r{ "a" : [ 1 , { "b" : null } ] , "c" : "d" } \n',
    "lone_surrogate": '{"a":"\\ud800"}',
    "bad_utf8": b'{"a":"\xc3\x28\xed\xa0\x80\xf4\x90\x80\x80"}',
    "truncated": '{"a":[1,2,{"b":"c',
    # the known differences from nlohmann_json (json_fuzz.cpp, README.md)
    "bom": b'\xef\xbb\xbf{"a":[1]}',
    "nul_after_value": b'{"a":1}\x00{"b"',
    "overflow": "[1e400,-1e400,1e-400,{\"a\":1E+400}]",
    "deep_300": "[" * 300 + "]" * 300,
    "big_integers": "[9007199254740993,18446744073709551616,-9223372036854775809,123456789012345678901234567890]",
    # more nodes than a valid text of its length could hold (SrcBug.ParsingMalformedJsonStaysInsideTheTape)
    "malformed_nested": "[" * 40 + '{"":[{"":[' * 8,
}


def main():
    for name, text in JSON_SEEDS.items():
        write("json", name, text)

    # diff: text mode (last byte odd = ConsumeBool true): two JSON objects.
    pairs = {
        "same_reordered": ('{"a":1,"b":{"x":[1,{"p":1,"q":2}]}}', '{"b":{"x":[1,{"q":2,"p":1}]},"a":1}'),
        "null_vs_absent": ('{"description":null,"n":1}', '{"n":1,"o":{"k":null}}'),
        "unicode_keys": ('{"\uff5e":1,"\U0001F600":2,"a":3}', '{"\uff5e":2,"\U0001F600":2,"b":3}'),
        "numbers": ('{"z":0,"i":1e400,"s":"1"}', '{"z":-0,"i":null,"s":1}'),
    }
    for name, (a, b) in pairs.items():
        write("diff", name, fdp_string(a) + fdp_string(b) + b"\x01")

    # schema: [schema][state text][... generated states][state? byte][strict byte]
    schemas = {
        "system": ('{"type":"object","properties":{"name":{"type":"string","minLength":1},'
                   '"description":{"type":["string","null"]},"metadata":{"type":"object",'
                   '"propertyNames":{"type":"string"},"additionalProperties":{}}},'
                   '"required":["name","description","metadata"],"additionalProperties":false}',
                   '{"name":"a","description":null,"metadata":{"k":[1]},"junk":1}'),
        "zod_defaults": ('{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object",'
                         '"properties":{"tier":{"default":2,"type":"integer","minimum":-9007199254740991,'
                         '"maximum":9007199254740991},"tags":{"type":"array","items":{"type":"string",'
                         '"enum":["a","b"]}},"n":{"anyOf":[{"type":"string"},{"type":"null"}]}},'
                         '"required":["tier","n"],"additionalProperties":false}',
                         '{"n":null,"tags":["a"],"x":1}'),
        "unions_refs": ('{"type":"object","$defs":{"node":{"type":"object","properties":{"v":{"type":"number"},'
                        '"next":{"anyOf":[{"$ref":"#/$defs/node"},{"type":"null"}]}},"required":["v"]}},'
                        '"properties":{"list":{"$ref":"#/$defs/node"},"u":{"oneOf":[{"type":"object",'
                        '"properties":{"kind":{"const":"a"},"a":{"type":"string","default":"x"}},'
                        '"required":["kind"]},{"type":"object","properties":{"kind":{"const":"b"}},'
                        '"required":["kind"]}]}}}',
                        '{"list":{"v":1,"next":{"v":2,"next":null}},"u":{"kind":"a"}}'),
        "records_tuples": ('{"type":"object","additionalProperties":{"type":"array","prefixItems":'
                           '[{"type":"string"},{"type":"integer"}],"items":false,"minItems":1,"maxItems":2}}',
                           '{"k":["s",1],"l":["t"]}'),
        "bad_schema": ('{"type":"object","properties":5}', '{}'),
        # allOf must hold after a branch fills a default (was accepted, then rejected)
        "allof_after_branch": ('{"type":"object","allOf":[{"maxProperties":1}],"anyOf":[{"properties":'
                               '{"a":{"default":1}},"additionalProperties":true}]}', '{"b":2}'),
        # a default its own schema rejects: filled in as it is (zod 4 does the same)
        "invalid_default": ('{"type":"object","properties":{"tier":{"type":"integer","minimum":10,"default":2}}}', '{}'),
        # zod union: a later branch's default lets an earlier branch take the output
        # host string tests (pattern, format), not, uniqueItems, annotations
        "string_tests": ('{"type":"object","$comment":"c","properties":{"e":{"type":"string","format":"email"},'
                         '"p":{"type":"string","pattern":"^[a-z]+$","format":"uuid"},"n":{"not":{"type":"string"}},'
                         '"u":{"type":"array","uniqueItems":true},"r":{"type":"object","propertyNames":'
                         '{"pattern":"^k"},"additionalProperties":{"type":"integer"}}}}',
                         '{"e":"a@b.co","p":"abc","n":1,"u":[1,"1",[1]],"r":{"k1":1,"x":2}}'),
        "unknown_keyword": ('{"type":"object","properties":{"a":{"tpye":"string"}}}', '{"a":1}'),
        "union_not_idempotent": ('{"type":"object","properties":{"u":{"anyOf":[{"type":"object","properties":'
                                 '{"a":{"const":5}},"required":["a"],"additionalProperties":false},{"type":"object",'
                                 '"properties":{"a":{"type":"number","default":5},"c":{"type":"number"}},'
                                 '"additionalProperties":false}]}}}', '{"u":{"c":1}}'),
    }
    for name, (schema, state) in schemas.items():
        for strict in (0, 1):
            write("schema", f"{name}_{'strict' if strict else 'strip'}",
                  fdp_string(schema) + fdp_string(state) + b"\x00" * 16 + b"\x01" + bytes([strict]))

    rng = random.Random(8)
    for n in (600, 4000):
        write("mask", f"long_{n}", bytes(rng.randrange(256) for _ in range(n)))
    write("pipeline", "long_2000", bytes(rng.randrange(256) for _ in range(2000)))
    # Long enough for many calls on few entities (tokens, evictions, retention).
    for n in (4000, 7000):
        write("pipeline", f"long_{n}", bytes(rng.randrange(256) for _ in range(n)))


if __name__ == "__main__":
    main()
