// Answers one JSON request per input line with one JSON line, using IAB's TCF library:
//   {"encode": {...choices...}} -> {"string": "..."}
//   {"decode": "CP..."}          -> {...choices...}
// The vendor list given to the library names every vendor up to the largest id asked about,
// each declaring every purpose on both legal bases, all of them flexible, so that the
// library's vendor-list rules change nothing and the two codecs can be compared as codecs.
"use strict";
const readline = require("node:readline");
const { GVL, TCModel, TCString, PurposeRestriction } = require("@iabtechlabtcf/core");

const ALL_PURPOSES = Array.from({ length: 11 }, (_, i) => i + 1);

function vendorList(largest, version, policyVersion) {
  const named = (ids) =>
    Object.fromEntries(ids.map((id) => [id, { id, name: `item ${id}`, description: "", illustrations: [] }]));
  const vendors = {};
  for (let id = 1; id <= largest; id++) {
    vendors[id] = {
      id, name: `vendor ${id}`, purposes: ALL_PURPOSES, legIntPurposes: ALL_PURPOSES,
      flexiblePurposes: ALL_PURPOSES, specialPurposes: [1], features: [], specialFeatures: [1, 2],
      cookieMaxAgeSeconds: 0, usesCookies: false, usesNonCookieAccess: false,
      urls: [{ langId: "en", privacy: "https://vendor.example/privacy" }],
    };
  }
  return {
    gvlSpecificationVersion: 3, vendorListVersion: version, tcfPolicyVersion: policyVersion,
    lastUpdated: "2026-11-01T00:00:00Z", purposes: named(ALL_PURPOSES), specialPurposes: named([1, 2]),
    features: named([1, 2, 3]), specialFeatures: named([1, 2]), stacks: {}, dataCategories: {}, vendors,
  };
}

const SEGMENTS = { core: "core", disclosed: "vendorsDisclosed", publisher: "publisherTC" };

function encode(c) {
  const largest = Math.max(1, ...c.vendorConsents, ...c.vendorLegitimateInterests, ...c.disclosedVendors,
    ...c.restrictions.flatMap((r) => r.vendors));
  const model = new TCModel();
  model.cmpId = c.cmpId; model.cmpVersion = c.cmpVersion; model.consentScreen = c.consentScreen;
  model.isServiceSpecific = c.isServiceSpecific; model.useNonStandardTexts = c.useNonStandardTexts;
  model.purposeOneTreatment = c.purposeOneTreatment; model.publisherCountryCode = c.publisherCountryCode;
  model.specialFeatureOptins.set(c.specialFeatureOptIns);
  model.purposeConsents.set(c.purposeConsents);
  model.purposeLegitimateInterests.set(c.purposeLegitimateInterests);
  model.vendorConsents.set(c.vendorConsents);
  model.vendorLegitimateInterests.set(c.vendorLegitimateInterests);
  model.vendorsDisclosed.set(c.disclosedVendors);
  for (const r of c.restrictions) {
    for (const vendor of r.vendors) model.publisherRestrictions.add(vendor, new PurposeRestriction(r.purpose, r.type));
  }
  if (c.publisher) {
    model.publisherConsents.set(c.publisher.consents);
    model.publisherLegitimateInterests.set(c.publisher.legitimateInterests);
    model.numCustomPurposes = c.publisher.customPurposes;
    model.publisherCustomConsents.set(c.publisher.customConsents);
    model.publisherCustomLegitimateInterests.set(c.publisher.customLegitimateInterests);
  }
  // A request may bring its own vendor list, to compare the rules a list imposes.
  model.gvl = new GVL(c.vendorList || vendorList(largest, c.vendorListVersion, c.policyVersion));
  // Set after the vendor list, which would otherwise put its own values in their place.
  if (!c.vendorList) model.policyVersion = c.policyVersion;
  model.created = new Date(c.createdMs);
  model.lastUpdated = new Date(c.lastUpdatedMs);
  const segments = [SEGMENTS.core, SEGMENTS.disclosed];
  if (c.publisher) segments.push(SEGMENTS.publisher);
  return { string: TCString.encode(model, { segments }) };
}

const ids = (vector) => { const out = []; vector.forEach((set, id) => { if (set) out.push(id); }); return out; };

function decode(text) {
  const m = TCString.decode(text);
  return {
    createdMs: m.created.getTime(), lastUpdatedMs: m.lastUpdated.getTime(), cmpId: m.cmpId,
    cmpVersion: m.cmpVersion, consentScreen: m.consentScreen, consentLanguage: m.consentLanguage,
    vendorListVersion: m.vendorListVersion, policyVersion: m.policyVersion,
    isServiceSpecific: m.isServiceSpecific, useNonStandardTexts: m.useNonStandardTexts,
    specialFeatureOptIns: ids(m.specialFeatureOptins), purposeConsents: ids(m.purposeConsents),
    purposeLegitimateInterests: ids(m.purposeLegitimateInterests), purposeOneTreatment: m.purposeOneTreatment,
    publisherCountryCode: m.publisherCountryCode, vendorConsents: ids(m.vendorConsents),
    vendorLegitimateInterests: ids(m.vendorLegitimateInterests), disclosedVendors: ids(m.vendorsDisclosed),
    restrictions: m.publisherRestrictions.getRestrictions().map((r) => ({
      purpose: r.purposeId, type: r.restrictionType,
      vendors: m.publisherRestrictions.getVendors(r),
    })),
    publisher: {
      consents: ids(m.publisherConsents), legitimateInterests: ids(m.publisherLegitimateInterests),
      customPurposes: m.numCustomPurposes, customConsents: ids(m.publisherCustomConsents),
      customLegitimateInterests: ids(m.publisherCustomLegitimateInterests),
    },
  };
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    answer = "encode" in request ? encode(request.encode) : decode(request.decode);
  } catch (error) {
    answer = { error: String(error && error.message ? error.message : error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
