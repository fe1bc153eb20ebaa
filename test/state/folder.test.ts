import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MailcampError } from '../../src/shared/errors.js';
import { campaignStateDir, ensureStateDir, findStateDir, STATE_DIR_NAME } from '../../src/state/folder.js';

let root: string;

beforeEach(() => {
  root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mailcamp-folder-')));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('state folder', () => {
  test('finds the nearest .mailcamp walking up', () => {
    const project = path.join(root, 'project');
    const deep = path.join(project, 'campaigns', '2026', 'november');
    fs.mkdirSync(deep, { recursive: true });
    fs.mkdirSync(path.join(project, STATE_DIR_NAME));
    assert.equal(findStateDir(deep), path.join(project, STATE_DIR_NAME));

    // A nearer one wins over the project's.
    fs.mkdirSync(path.join(project, 'campaigns', STATE_DIR_NAME));
    assert.equal(findStateDir(deep), path.join(project, 'campaigns', STATE_DIR_NAME));
    assert.equal(findStateDir(project), path.join(project, STATE_DIR_NAME));
  });

  test("a campaign folder reached through a symlink finds the project's .mailcamp, not a new one beside the link", () => {
    const project = path.join(root, 'proj');
    const campaigns = path.join(project, 'campaigns');
    fs.mkdirSync(campaigns, { recursive: true });
    fs.mkdirSync(path.join(project, STATE_DIR_NAME));
    const elsewhere = path.join(root, 'elsewhere');
    fs.mkdirSync(elsewhere);
    fs.symlinkSync(campaigns, path.join(elsewhere, 'link'));
    assert.equal(findStateDir(path.join(elsewhere, 'link')), path.join(project, STATE_DIR_NAME));
  });

  test('--state naming a file is a usage error, not a new state folder or "never sent"', () => {
    const file = path.join(root, 'afile');
    fs.writeFileSync(file, '');
    assert.throws(() => findStateDir(root, file), (e: unknown) => e instanceof MailcampError && e.code === 'USAGE' && /is a file, not a folder/.test(e.message));
  });

  test('a file named .mailcamp is not a state folder', () => {
    const project = path.join(root, 'p');
    const sub = path.join(project, 'sub');
    fs.mkdirSync(sub, { recursive: true });
    fs.mkdirSync(path.join(project, STATE_DIR_NAME));
    fs.writeFileSync(path.join(sub, STATE_DIR_NAME), '');
    assert.equal(findStateDir(sub), path.join(project, STATE_DIR_NAME));
  });

  test('without one, it is a new .mailcamp in the start folder, not created yet', () => {
    const start = path.join(root, 'a', 'b');
    fs.mkdirSync(start, { recursive: true });
    const found = findStateDir(start);
    // Unless some folder above the temp dir has one (it should not), this is the start folder's.
    if (!fs.existsSync(path.join(path.dirname(root), STATE_DIR_NAME))) {
      assert.equal(found, path.join(start, STATE_DIR_NAME));
      assert.equal(fs.existsSync(found), false);
    }
  });

  test('relative start folders are resolved', () => {
    fs.mkdirSync(path.join(root, STATE_DIR_NAME));
    fs.mkdirSync(path.join(root, 'c'));
    const rel = path.relative(process.cwd(), path.join(root, 'c'));
    assert.equal(findStateDir(rel), path.join(root, STATE_DIR_NAME));
  });

  test('--state overrides the search', () => {
    fs.mkdirSync(path.join(root, STATE_DIR_NAME));
    const other = path.join(root, 'elsewhere');
    assert.equal(findStateDir(root, other), other);
    assert.equal(findStateDir(root, path.relative(process.cwd(), other)), other);
    assert.equal(findStateDir(root, ''), path.join(root, STATE_DIR_NAME), 'an empty override is no override');
  });

  test('ensureStateDir creates the folder and its parents, and is idempotent', () => {
    const dir = path.join(root, 'x', 'y', STATE_DIR_NAME);
    assert.equal(ensureStateDir(dir), dir);
    assert.ok(fs.statSync(dir).isDirectory());
    assert.equal(ensureStateDir(dir), dir);
    const file = path.join(root, 'plain-file');
    fs.writeFileSync(file, '');
    assert.throws(() => ensureStateDir(file), (e: unknown) => e instanceof MailcampError && e.code === 'STATE');
  });

  test('campaignStateDir is <state>/<name>/ and refuses names that would escape or collide', () => {
    const state = path.join(root, STATE_DIR_NAME);
    assert.equal(campaignStateDir(state, 'november-news'), path.join(state, 'november-news'));
    for (const bad of ['..', '.', 'suppression', 'suppression-wal', 'a/b', '']) {
      assert.throws(
        () => campaignStateDir(state, bad),
        (e: unknown) => e instanceof MailcampError && e.code === 'INPUT',
        bad,
      );
    }
  });
});
