import { parseGoJson, type GoJsonValue } from '../../shared/go-json/go-json.js';
import { DecodeState, UnmarshalTypeError, goBoolField, goStringField, kindName, unmarshalGoStruct } from '../../shared/go-json/go-json-decode.js';

/** One Kubernetes component of the ticket (components.proto), as decoded from the ConfigMap. */
export interface KubernetesComponent {
  url: string;
  hash: string;
  installPath: string;
  extract: boolean;
}



// The current writer's field names (proto JSON names) and the legacy struct's Go field names.
const CURRENT = { goType: 'components.Component', structName: 'Component', fields: { url: goStringField, hash: goStringField, install_path: goStringField, extract: goBoolField } };
const LEGACY = { goType: 'components.legacyComponent', structName: 'legacyComponent', fields: { URL: goStringField, Hash: goStringField, InstallPath: goStringField, Extract: goBoolField } };

/**
 * Decodes the `components` key of the components ConfigMap (join-protocol.md
 * §4 Step 9) with Go encoding/json semantics: keys match case-insensitively,
 * unknown keys are ignored, `null` is an empty list, and a field left empty by
 * the current names is filled from the legacy names (`InstallPath`, …).
 * Throws Go's decode error text.
 */
export function decodeComponents(raw: string): KubernetesComponent[] {
  const root = parseGoJson(Buffer.from(raw, 'utf8'));
  if (root.kind === 'null') return [];
  if (root.kind !== 'array') throw new UnmarshalTypeError(kindName(root), 'components.Components');
  const state = new DecodeState();
  const out: KubernetesComponent[] = [];
  for (const item of root.items) {
    const c = decodeOne(item, state);
    if (c) out.push(c);
  }
  if (state.error) throw state.error;
  return out;
}

function decodeOne(item: GoJsonValue, state: DecodeState): KubernetesComponent | undefined {
  if (item.kind !== 'object' && item.kind !== 'null') {
    state.save(new UnmarshalTypeError(kindName(item), 'components.Component'));
    return { url: '', hash: '', installPath: '', extract: false };
  }
  try {
    const cur = unmarshalGoStruct(item, CURRENT);
    const leg = unmarshalGoStruct(item, LEGACY);
    return {
      url: cur.url || leg.URL,
      hash: cur.hash || leg.Hash,
      installPath: cur.install_path || leg.InstallPath,
      extract: cur.extract || leg.Extract,
    };
  } catch (err) {
    state.save(err as Error);
    return undefined;
  }
}
