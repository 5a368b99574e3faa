import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeComponents } from '../../src/main/ticket/components.js';

test('components decode with the current proto JSON names', () => {
  assert.deepEqual(
    decodeComponents('[{"url":"https://x/kubelet","hash":"sha256:aa","install_path":"/run/state/bin/kubelet"},{"url":"https://x/cni.tgz","hash":"sha256:bb","install_path":"/opt/cni/bin","extract":true}]'),
    [
      { url: 'https://x/kubelet', hash: 'sha256:aa', installPath: '/run/state/bin/kubelet', extract: false },
      { url: 'https://x/cni.tgz', hash: 'sha256:bb', installPath: '/opt/cni/bin', extract: true },
    ],
  );
});

test('keys match case-insensitively; legacy names fill empty fields; unknown keys are ignored', () => {
  assert.deepEqual(decodeComponents('[{"URL":"u","Hash":"h","InstallPath":"/p","Extract":true,"other":1}]'), [
    { url: 'u', hash: 'h', installPath: '/p', extract: true },
  ]);
  assert.deepEqual(decodeComponents('[{"Url":"u","INSTALL_PATH":"/q"}]'), [{ url: 'u', hash: '', installPath: '/q', extract: false }]);
});

test('null is an empty list; an empty string or wrong types fail with Go\'s texts', () => {
  assert.deepEqual(decodeComponents('null'), []);
  assert.throws(() => decodeComponents(''), /unexpected end of JSON input/);
  assert.throws(() => decodeComponents('{}'), /json: cannot unmarshal object into Go value of type components.Components/);
  assert.throws(() => decodeComponents('[{"url":5}]'), /json: cannot unmarshal number into Go struct field Component.url of type string/);
  assert.throws(() => decodeComponents('[{"url":"a",'), /unexpected end of JSON input/);
});
