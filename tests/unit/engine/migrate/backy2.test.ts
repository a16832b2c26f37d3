// backy2 and Benji parsing: CSV as Python writes it, dump rows of each format, listings for
// tags, BLAKE2b against published vectors and Node's 512-bit digest, automatic tags.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { autoTagsFor } from '../../../../src-main/engine/autotags';
import { EngineError } from '../../../../src-main/engine/errors';
import { escapeField, parseBacky2Date, parseBacky2Dump, parseBacky2Listing, parseCsv } from '../../../../src-main/engine/migrate/backy2';
import { benjiBlockKey, blake2b, parseBenjiExport } from '../../../../src-main/engine/migrate/benji';

const isBadExport = (error: unknown): boolean => error instanceof EngineError && error.code === 'BAD_EXPORT';
const SHA = 'ab'.repeat(64);

describe('parseCsv', () => {
  it('reads quoted fields, doubled quotes, separators and line breaks inside quotes, \\r\\n and \\n lines', () => {
    assert.deepEqual(parseCsv('a,"b,c","say ""hi""",\r\n"multi\r\nline",,x\nlast'), [['a', 'b,c', 'say "hi"', ''], ['multi\r\nline', '', 'x'], ['last']]);
  });

  it('refuses a file that ends inside quotes', () => {
    assert.throws(() => parseCsv('a,"open'), isBadExport);
  });
});

describe('parseBacky2Dump', () => {
  const uid = '52da2130-2929-11e7-bde0-003048d74f6c';
  it('reads the 2.2 example of backy2\'s documentation: version fields and blocks, sparse blocks without uid', () => {
    const text = [
      'backy2 Version 2.2 metadata dump',
      `${uid},2017-04-24 22:05:04,zimbra.trusted@backup_20170424214643,,2,4194305,1,0`,
      `38fdb171ccdm34m59W8wMCDiArpTRTsF,${uid},0,2017-04-24 22:11:14,${SHA},4194304,1`,
      `,${uid},1,2017-04-24 22:11:14,,4194304,1`,
      '',
    ].join('\r\n');
    const [v] = parseBacky2Dump(text);
    assert.equal(v.uid, uid);
    assert.equal(v.name, 'zimbra.trusted@backup_20170424214643');
    assert.equal(v.snapshot, '');
    assert.equal(v.sizeBlocks, 2);
    assert.equal(v.sizeBytes, 4194305);
    assert.equal(v.valid, true);
    assert.equal(v.protected, false);
    assert.equal(v.date, new Date(2017, 3, 24, 22, 5, 4).getTime());
    assert.deepEqual(v.blocks, [
      { idx: 0, key: '38fdb171ccdm34m59W8wMCDiArpTRTsF', checksum: SHA, size: 4194304 },
      { idx: 1, key: null, checksum: null, size: 4194304 },
    ]);
  });

  it('reads 2.1 (no snapshot, no protection) and 2.12 (expire, encryption columns) rows', () => {
    const v21 = parseBacky2Dump(`backy2 Version 2.1 metadata dump\n${uid},2016-01-02 03:04:05,vm,1,10,0\nabcdefabcdefabcdefabcdefabcdefab,${uid},0,2016-01-02 03:04:05,${SHA},10,1\n`)[0];
    assert.deepEqual([v21.snapshot, v21.protected, v21.valid, v21.blocks.length], ['', false, false, 1]);
    const v212 = parseBacky2Dump(`backy2 Version 2.12 metadata dump\r\n${uid},2019-01-02 03:04:05,vm,snap,1,10,1,1,2019-02-01\r\n,${uid},0,2019-01-02 03:04:05,,10,1,0,,\r\n`)[0];
    assert.deepEqual([v212.snapshot, v212.protected, v212.expire, v212.blocks[0].key], ['snap', true, '2019-02-01', null]);
  });

  it('escapes | and line breaks of names, so machine lines keep their fields', () => {
    const [v] = parseBacky2Dump(`backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,"a|b\nc",snap|1,0,0,1,0\r\n`);
    assert.equal(v.name, 'a\\x7cb\\x0ac');
    assert.equal(v.snapshot, 'snap\\x7c1');
    assert.equal(escapeField('plain name'), 'plain name');
  });

  it('refuses malformed dumps whole', () => {
    const bad = [
      '',
      'not a dump\r\n',
      'backy2 Version 9.9 metadata dump\r\n',
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,vm,,1,10,1\r\n`,
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-13-24 22:05:04,vm,,1,10,1,0\r\n`,
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,vm,,1,10,2,0\r\n`,
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,vm,,1,10,1,0\r\n,${uid},1,2017-04-24 22:05:04,,10,1\r\n`,
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,vm,,1,10,1,0\r\n,other,0,2017-04-24 22:05:04,,10,1\r\n`,
      `backy2 Version 2.2 metadata dump\r\n${uid},2017-04-24 22:05:04,vm,,1,10,1,0\r\nxyzxyz,${uid},0,2017-04-24 22:05:04,nothex,10,1\r\n`,
      `backy2 Version 2.2 metadata dump\r\nbacky2 Version 2.2 metadata dump\r\n`,
    ];
    for (const text of bad) assert.throws(() => parseBacky2Dump(text), isBadExport, JSON.stringify(text));
  });

  it('parses backy2 dates as local time, with or without microseconds', () => {
    assert.equal(parseBacky2Date('2017-04-18 18:05:04.174907'), new Date(2017, 3, 18, 18, 5, 4, 174).getTime());
    assert.ok(Number.isNaN(parseBacky2Date('2017-02-30 00:00:00')));
  });
});

describe('parseBacky2Listing', () => {
  it('finds uid and tags with a header, without one, and in version| lines', () => {
    const withHeader = parseBacky2Listing('date|name|snapshot_name|size|size_bytes|uid|valid|protected|tags|expire\n2017-04-18 18:05:04|vm1||1|10|u1|1|0|b_weekly,b_daily|\n');
    assert.deepEqual([...withHeader], [['u1', ['b_daily', 'b_weekly']]]);
    const custom = parseBacky2Listing('uid|tags\nu2|x\n');
    assert.deepEqual([...custom], [['u2', ['x']]]);
    const ours = parseBacky2Listing('version|2017-04-18 18:05:04.000000|vm1||1|10|u3|1|0|a,b\n');
    assert.deepEqual([...ours], [['u3', ['a', 'b']]]);
  });
});

describe('BLAKE2b', () => {
  it('matches RFC 7693 and Node\'s blake2b512 at every length around the block boundary', () => {
    assert.equal(blake2b(Buffer.from('abc'), 64).toString('hex'), createHash('blake2b512').update('abc').digest('hex'));
    assert.equal(blake2b(Buffer.from('abc'), 32).toString('hex'), 'bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319');
    assert.equal(blake2b(Buffer.alloc(0), 32).toString('hex'), '0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8');
    for (const length of [1, 127, 128, 129, 255, 256, 257, 1000, 65536]) {
      const data = randomBytes(length);
      assert.equal(blake2b(data, 64).toString('hex'), createHash('blake2b512').update(data).digest('hex'), `length ${length}`);
    }
  });
});

describe('parseBenjiExport', () => {
  const version = (blocks: unknown[]): string => JSON.stringify({
    metadata_version: '3.0.0',
    versions: [{ uid: 'vm-abc123', date: '2020-02-03T04:05:06.123456Z', volume: 'vm', snapshot: 's', size: 3 * 65536, block_size: 65536, storage: 'st', status: 'valid', protected: false, labels: { k: 'v' }, blocks }],
  });
  it('turns missing indexes into sparse blocks and labels into tags', () => {
    const [v] = parseBenjiExport(version([{ uid: { left: 1, right: 2 }, idx: 1, size: 65536, valid: true, checksum: 'ab'.repeat(32) }]));
    assert.deepEqual(v.blocks.map((b) => b.key), [null, benjiBlockKey(1, 2), null]);
    assert.equal(benjiBlockKey(1, 2), '0000000000000001-0000000000000002');
    assert.deepEqual(v.tags, ['benji_uid=vm-abc123', 'k=v']);
    assert.equal(v.legacyUid, 'vm-abc123');
    assert.match(v.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a name-based UUID');
    assert.equal(parseBenjiExport(version([]))[0].uid, v.uid, 'the same on every run');
    assert.equal(v.date, Date.UTC(2020, 1, 3, 4, 5, 6, 123));
  });
  it('refuses malformed exports', () => {
    for (const text of ['{}', 'nope', JSON.stringify({ metadata_version: '9.0.0', versions: [] }), version([{ uid: { left: 1, right: 2 }, idx: 5, size: 1, checksum: 'ab' }]), version([{ idx: 0, size: 1, checksum: 'zz' }])]) {
      assert.throws(() => parseBenjiExport(text), isBadExport, text);
    }
  });
});

describe('autoTagsFor (backy2\'s automatic tags)', () => {
  const at = (y: number, m: number, d: number, h = 12): number => new Date(y, m - 1, d, h).getTime();
  it('first backup gets all three; the same day none; daily, weekly, monthly as backy2 counts', () => {
    assert.deepEqual(autoTagsFor([], 'vm', at(2024, 3, 10)), ['b_daily', 'b_weekly', 'b_monthly']);
    const first = [{ name: 'vm', date: at(2024, 3, 10, 1), tags: ['b_daily', 'b_weekly', 'b_monthly'] }];
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 3, 10, 23)), []);
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 3, 11)), ['b_daily']);
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 3, 16)), ['b_daily']);
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 3, 17)), ['b_daily', 'b_weekly']);
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 4, 9)), ['b_daily', 'b_weekly']);
    assert.deepEqual(autoTagsFor(first, 'vm', at(2024, 4, 10)), ['b_daily', 'b_weekly', 'b_monthly']);
    assert.deepEqual(autoTagsFor(first, 'other', at(2024, 3, 10)), ['b_daily', 'b_weekly', 'b_monthly'], 'per name');
  });
});
