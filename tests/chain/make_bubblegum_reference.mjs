// Makes tests/chain/fixtures/bubblegum_reference.json with Metaplex's own code
// (npm @metaplex-foundation/mpl-bubblegum 4.4.0, umi 0.9): run once, offline, with
//   npm install @metaplex-foundation/mpl-bubblegum@4.4.0 @metaplex-foundation/umi-bundle-defaults@0.9
//   node tests/chain/make_bubblegum_reference.mjs > tests/chain/fixtures/bubblegum_reference.json
// atelier/chain/solana/bubblegum.py is tested byte for byte against it.
import {
  hashLeaf, hashMetadataData, hashMetadataCreators, findLeafAssetIdPda, findTreeConfigPda,
  getMintV1InstructionDataSerializer,
} from "@metaplex-foundation/mpl-bubblegum";
import { publicKey, some, none } from "@metaplex-foundation/umi";
import { createUmi } from "@metaplex-foundation/umi-bundle-defaults";

const umi = createUmi("http://127.0.0.1:1");
const tree = publicKey("9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin");
const owner = publicKey("HNGVuL5kqjDehw7KR63w9gxow32sX6xzRNgLb8GkbwCM");
const creator = publicKey("2Kzf8Ye7gLUr4KZuN2jq5nWWiEMs7gkNhmzhG3pEjSVG");
const collection = publicKey("CdhmiAdSmTNNtSmgMv2aBDsnUjgvxVbHtnqqTgLFHERE");
const metadata = {
  name: "Harbour #12", symbol: "HRB", uri: "https://atelier.example/api/market/nfts/12/metadata.json",
  sellerFeeBasisPoints: 750, primarySaleHappened: false, isMutable: true, editionNonce: none(),
  tokenStandard: some(0), collection: some({ verified: false, key: collection }), uses: none(),
  tokenProgramVersion: 0,
  creators: [{ address: owner, verified: false, share: 60 }, { address: creator, verified: false, share: 40 }],
};
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const nonce = 12;
console.log(JSON.stringify({
  tree, owner, creators: [[owner, 60], [creator, 40]], collection, nonce,
  name: metadata.name, symbol: metadata.symbol, uri: metadata.uri, fee: 750,
  asset_id: findLeafAssetIdPda(umi, { merkleTree: tree, leafIndex: nonce })[0],
  tree_config: findTreeConfigPda(umi, { merkleTree: tree })[0],
  data_hash: hex(hashMetadataData(metadata)),
  creator_hash: hex(hashMetadataCreators(metadata.creators)),
  leaf_hash: hex(hashLeaf(umi, { merkleTree: tree, owner, leafIndex: nonce, metadata })),
  mint_v1_data: hex(getMintV1InstructionDataSerializer().serialize({ metadata })),
}, null, 2));
