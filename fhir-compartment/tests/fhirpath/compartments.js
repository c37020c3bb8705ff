// Reference side of fhir-compartment's differential test (tests/differential.rs).
//
// Reads the official CompartmentDefinitions and SearchParameters from the hl7.fhir.r4.core
// package, then for every entry of each Synthea bundle: rewrites references between entries
// (fullUrl, here urn:uuid:) to Type/id, evaluates each compartment parameter's official
// FHIRPath expression with the `fhirpath` package and collects the compartments the
// resulting references name. Prints one JSON array of {file, index, compartments}.
//
// `resolve()` needs a server, so `.where(resolve() is T)` is evaluated as
// `.where(reference.startsWith('T/'))`: after the rewrite every reference is Type/id, so this
// decides by the reference's type, as fhir-compartment does.
//
// With --values, prints instead, for every entry, the values of every SearchParameter of
// type number, date, string, token, reference, quantity or uri that applies to its type
// (its own and the Resource/DomainResource ones): {file, index, values: {code: [...]}}.
//
// Usage: node compartments.js [--values] PACKAGE.tgz BUNDLE.json...
'use strict';

const fs = require('fs');
const zlib = require('zlib');
const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

function readPackage(path) {
  const tar = zlib.gunzipSync(fs.readFileSync(path));
  const files = new Map();
  let at = 0;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    if (!name) break;
    const prefix = header.subarray(345, 500).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0', 8);
    const full = prefix ? `${prefix}/${name}` : name;
    files.set(full, tar.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

const COMPARTMENTS = ['patient', 'encounter', 'relatedPerson', 'practitioner', 'device'];
const ID = '[A-Za-z0-9\\-.]{1,64}';

/// `.where(resolve() is T)` decided by the (rewritten, Type/id) reference's type.
function offline(expression) {
  return expression.replace(/\.where\(resolve\(\) is ([A-Za-z]+)\)/g, ".where(reference.startsWith('$1/'))");
}

function main() {
  let args = process.argv.slice(2);
  const valuesMode = args[0] === '--values';
  if (valuesMode) args = args.slice(1);
  const [pkgPath, ...bundles] = args;
  const files = readPackage(pkgPath);
  const params = new Map();
  // resourceType (or Resource/DomainResource) -> [{code, expression}] for --values
  const valueParams = new Map();
  const VALUE_TYPES = ['number', 'date', 'string', 'token', 'reference', 'quantity', 'uri'];
  for (const [name, bytes] of files) {
    if (!name.startsWith('package/SearchParameter-')) continue;
    const sp = JSON.parse(bytes.toString('utf8'));
    if (sp.id.startsWith('example')) continue;
    for (const base of sp.base || []) {
      params.set(`${base}.${sp.code}`, sp);
      if (sp.expression && VALUE_TYPES.includes(sp.type)) {
        if (!valueParams.has(base)) valueParams.set(base, []);
        valueParams.get(base).push({ code: sp.code, expression: offline(sp.expression) });
      }
    }
  }
  // resourceType -> [{owner, expression}]
  const links = new Map();
  for (const id of COMPARTMENTS) {
    const def = JSON.parse(files.get(`package/CompartmentDefinition-${id}.json`).toString('utf8'));
    for (const res of def.resource) {
      for (const code of res.param || []) {
        if (code === '{def}') continue;
        const sp = params.get(`${res.code}.${code}`);
        if (!sp || !sp.expression) throw new Error(`no expression for ${res.code}.${code}`);
        const expression = offline(sp.expression);
        if (!links.has(res.code)) links.set(res.code, []);
        links.get(res.code).push({ owner: def.code, code, expression });
      }
    }
  }
  const out = [];
  for (const file of bundles) {
    const bundle = JSON.parse(fs.readFileSync(file, 'utf8'));
    const byFullUrl = new Map();
    for (const entry of bundle.entry || []) {
      const r = entry.resource;
      if (entry.fullUrl && r && r.resourceType && r.id) byFullUrl.set(entry.fullUrl, `${r.resourceType}/${r.id}`);
    }
    const rewrite = (value) => {
      if (Array.isArray(value)) return value.forEach(rewrite);
      if (value && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          if (k === 'reference' && typeof v === 'string' && byFullUrl.has(v)) value[k] = byFullUrl.get(v);
          else rewrite(v);
        }
      }
    };
    (bundle.entry || []).forEach((entry, index) => {
      const resource = entry.resource;
      if (valuesMode) {
        rewrite(resource);
        const values = {};
        const applicable = [
          ...(valueParams.get(resource.resourceType) || []),
          ...(valueParams.get('Resource') || []),
          ...(valueParams.get('DomainResource') || []),
        ];
        for (const { code, expression } of applicable) {
          try {
            values[code] = fhirpath.evaluate(resource, expression, null, r4);
          } catch (e) {
            // FHIRPath's `as` wants a single value; R4 writes `(Observation.component.value as
            // Quantity)` meaning each value that is one (R5 writes `ofType`). Retry so.
            const retried = expression.replace(/\(([^()]*) as ([A-Za-z]+)\)/g, '$1.ofType($2)');
            if (retried === expression) throw e;
            values[code] = { asOfType: fhirpath.evaluate(resource, retried, null, r4) };
          }
        }
        out.push({ file: file.split('/').pop(), index, values });
        return;
      }
      const compartments = new Set();
      if (resource) {
        rewrite(resource);
        const type = resource.resourceType;
        if (['Patient', 'Encounter', 'RelatedPerson', 'Practitioner', 'Device'].includes(type) && new RegExp(`^${ID}$`).test(resource.id || '')) {
          compartments.add(`${type}/${resource.id}`);
        }
        for (const { owner, expression } of links.get(type) || []) {
          const pattern = new RegExp(`^${owner}/(${ID})(/_history/${ID})?$`);
          for (const value of fhirpath.evaluate(resource, expression, null, r4)) {
            const m = value && typeof value.reference === 'string' && value.reference.match(pattern);
            if (m) compartments.add(`${owner}/${m[1]}`);
          }
        }
      }
      out.push({ file: file.split('/').pop(), index, compartments: [...compartments].sort() });
    });
  }
  process.stdout.write(JSON.stringify(out));
}

main();
