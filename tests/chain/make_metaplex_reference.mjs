// Makes tests/chain/fixtures/metaplex_reference.json with Metaplex's own serialisers
// (npm @metaplex-foundation/mpl-token-metadata 3.4.0, umi 0.9): run once, offline, with
//   npm install @metaplex-foundation/mpl-token-metadata@3.4.0 @metaplex-foundation/umi@0.9
//   node tests/chain/make_metaplex_reference.mjs > tests/chain/fixtures/metaplex_reference.json
// The Python encoder (atelier/chain/solana/metaplex.py) is tested byte for byte against it.
import {
  getMetadataAccountDataSerializer,
  getCreateMetadataAccountV3InstructionDataSerializer,
  findMetadataPda,
  Key,
  TokenStandard,
} from "@metaplex-foundation/mpl-token-metadata";
import { publicKey, some, none } from "@metaplex-foundation/umi";
import { createUmi } from "@metaplex-foundation/umi-bundle-defaults";

const umi = createUmi("http://127.0.0.1:1");
const updateAuthority = publicKey("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
const mint = publicKey("7EYnhQoR9YM3N7UoaKRoA44Uy8JeaZV3qyouov87awMs");
const creatorA = publicKey("HNGVuL5kqjDehw7KR63w9gxow32sX6xzRNgLb8GkbwCM");
const creatorB = publicKey("2Kzf8Ye7gLUr4KZuN2jq5nWWiEMs7gkNhmzhG3pEjSVG");
const collectionKey = publicKey("CdhmiAdSmTNNtSmgMv2aBDsnUjgvxVbHtnqqTgLFHERE");

// The program stores strings padded with NULs (puff_out_data_fields): 32, 10, 200 bytes.
const pad = (s, n) => s + "\u0000".repeat(n - Buffer.byteLength(s));

const cases = [
  {
    name: "two creators, a collection, primary sale not yet",
    name_: "Atelier #1",
    symbol: "ATLR",
    uri: "http://localhost:8080/api/market/nfts/0/metadata.json",
    fee: 500,
    creators: [
      { address: creatorA, verified: false, share: 70 },
      { address: creatorB, verified: false, share: 30 },
    ],
    collection: { verified: false, key: collectionKey },
  },
  {
    name: "no creators, no collection, multibyte name",
    name_: "Nuit étoilée ★",
    symbol: "NUIT",
    uri: "https://example.org/m.json",
    fee: 0,
    creators: null,
    collection: null,
  },
];

const out = { program: "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s", pda: {}, cases: [] };
out.pda[mint] = findMetadataPda(umi, { mint })[0];
for (const c of cases) {
  const account = getMetadataAccountDataSerializer().serialize({
    key: Key.MetadataV1,
    updateAuthority,
    mint,
    name: pad(c.name_, 32),
    symbol: pad(c.symbol, 10),
    uri: pad(c.uri, 200),
    sellerFeeBasisPoints: c.fee,
    creators: c.creators ? some(c.creators) : none(),
    primarySaleHappened: false,
    isMutable: true,
    editionNonce: none(),
    tokenStandard: some(TokenStandard.NonFungible),
    collection: c.collection ? some(c.collection) : none(),
    uses: none(),
    collectionDetails: none(),
    programmableConfig: none(),
  });
  const instruction = getCreateMetadataAccountV3InstructionDataSerializer().serialize({
    data: {
      name: c.name_,
      symbol: c.symbol,
      uri: c.uri,
      sellerFeeBasisPoints: c.fee,
      creators: c.creators ? some(c.creators) : none(),
      collection: c.collection ? some(c.collection) : none(),
      uses: none(),
    },
    isMutable: true,
    collectionDetails: none(),
  });
  out.cases.push({
    name: c.name,
    fields: {
      update_authority: updateAuthority,
      mint,
      name: c.name_,
      symbol: c.symbol,
      uri: c.uri,
      seller_fee_basis_points: c.fee,
      creators: c.creators ? c.creators.map((x) => ({ address: x.address, share: x.share })) : [],
      collection: c.collection ? c.collection.key : null,
    },
    account_hex: Buffer.from(account).toString("hex"),
    instruction_hex: Buffer.from(instruction).toString("hex"),
  });
}
console.log(JSON.stringify(out, null, 2));
