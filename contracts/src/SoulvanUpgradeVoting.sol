// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title SoulvanUpgradeVoting
/// @notice On-chain votes on Atelier platform upgrades (one proposal per upgrade job id).
/// @dev Voting power is the voter's `getPastVotes` on the token at the proposal's snapshot block,
/// a block already mined when the proposal was created. Tokens bought, borrowed or flash-loaned
/// after that block carry no weight, so power cannot be assembled once a proposal is known, and
/// the same tokens cannot vote twice by moving between wallets.
///
/// Votes are cast either directly (`voteOnUpgrade`, the voter pays gas) or relayed
/// (`voteBySig`): the voter signs the same EIP-712 `Vote` message the off-chain ballot service
/// accepts, and anyone, normally the platform's relayer, submits it and pays the gas. Members
/// thus need SOUL at the snapshot but no ETH to vote, and one signature serves both the off-chain
/// tally and the on-chain one.
///
/// A one-wallet-one-vote proposal is open to any address, so fresh keys are free votes. A
/// relayed-only proposal (`createRelayedProposal`) takes votes only through `voteBySig` sent by
/// the owner: the platform relays the signed votes of wallets it knows belong to distinct
/// verified people, and no one else's key counts.
contract SoulvanUpgradeVoting is EIP712, Ownable {
    /// @notice One proposal's window, rules and running tally.
    struct Proposal {
        uint48 snapshot; // block whose voting power counts (strictly before creation's block)
        uint48 voteEnd; // last timestamp (inclusive) at which votes are accepted
        bool tokenWeighted; // false: one wallet one vote, no token needed
        bool relayedOnly; // votes only through voteBySig submitted by the owner
        bool exists;
        bool finalized; // applyUpgrade has run
        bool applied; // the outcome: approved with quorum
        uint256 quorum; // minimum approve + reject weight (voters when not token weighted)
        uint256 approveWeight;
        uint256 rejectWeight;
        uint64 approveVoters;
        uint64 rejectVoters;
    }

    /// @notice The EIP-712 type hash of the signed vote, as the off-chain ballot service uses it.
    bytes32 public constant VOTE_TYPEHASH = keccak256(
        "Vote(bytes32 proposal,address voter,string choice,string reason,uint64 timestamp)"
    );

    /// @notice The longest reason accepted, in bytes (the off-chain service's limit too).
    uint256 public constant MAX_REASON_BYTES = 5000;

    bytes32 private constant APPROVE_HASH = keccak256("approve");
    bytes32 private constant REJECT_HASH = keccak256("reject");

    /// @notice The token whose checkpointed votes weigh token-weighted proposals.
    IVotes public immutable token;
    /// @notice Voting window of proposals made with `createProposal`, in seconds.
    uint48 public immutable defaultVotingPeriod;
    /// @notice Quorum of proposals made with `createProposal`, in token base units.
    uint256 public immutable defaultQuorum;

    mapping(bytes32 jobId => Proposal) private _proposals;
    mapping(bytes32 jobId => mapping(address voter => bool)) private _hasVoted;

    event ProposalCreated(
        bytes32 indexed jobId, uint256 snapshot, uint256 voteEnd, bool tokenWeighted, uint256 quorum
    );
    event VoteCast(
        bytes32 indexed jobId, address indexed voter, bool approve, uint256 weight, string reason
    );
    event UpgradeApplied(bytes32 indexed jobId, uint256 approveWeight, uint256 rejectWeight);
    event UpgradeRejected(bytes32 indexed jobId, uint256 approveWeight, uint256 rejectWeight);

    error ProposalExists(bytes32 jobId);
    error UnknownProposal(bytes32 jobId);
    error InvalidSnapshot(uint256 snapshot, uint256 currentBlock);
    error InvalidVoteEnd(uint256 voteEnd, uint256 currentTime);
    error VotingClosed(bytes32 jobId, uint256 voteEnd);
    error VotingOpen(bytes32 jobId, uint256 voteEnd);
    error AlreadyVoted(bytes32 jobId, address voter);
    error ReasonTooLong(uint256 length, uint256 maxLength);
    error NoVotingPower(address voter, uint256 snapshot);
    error InvalidChoice();
    error InvalidSignature();
    error AlreadyFinalized(bytes32 jobId);
    error RelayedOnly(bytes32 jobId);

    /// @param initialOwner the account allowed to create proposals (the platform)
    /// @param token_ the ERC-5805 votes token (SoulvanCoin); its clock must be block numbers
    /// @param defaultVotingPeriod_ seconds a `createProposal` proposal stays open
    /// @param defaultQuorum_ token base units a `createProposal` proposal needs cast
    constructor(address initialOwner, IVotes token_, uint48 defaultVotingPeriod_, uint256 defaultQuorum_)
        EIP712("SoulvanUpgradeVoting", "1")
        Ownable(initialOwner)
    {
        token = token_;
        defaultVotingPeriod = defaultVotingPeriod_;
        defaultQuorum = defaultQuorum_;
    }

    /// @notice Opens a token-weighted vote on upgrade `jobId` with the default period and quorum.
    /// @dev The snapshot is the previous block, whose balances are final: a holder cannot gain
    /// power for this proposal by acquiring tokens in (or after) the creating block.
    function createProposal(bytes32 jobId) external onlyOwner {
        _create(
            jobId,
            SafeCast.toUint48(block.number - 1),
            SafeCast.toUint48(block.timestamp + defaultVotingPeriod),
            true,
            defaultQuorum
        );
    }

    /// @notice Opens a vote with an explicit window and rules, so that the off-chain ballot
    /// service can mirror one of its proposals exactly (same snapshot block, same end).
    /// @param snapshot a block before the current one; voting power is read at it
    /// @param voteEnd the last timestamp at which votes count; must lie in the future
    /// @param tokenWeighted false: every wallet weighs 1 and needs no tokens; quorum counts voters
    /// @param quorum the approve + reject weight needed for the outcome to be valid
    function createProposalWithWindow(
        bytes32 jobId,
        uint48 snapshot,
        uint48 voteEnd,
        bool tokenWeighted,
        uint256 quorum
    ) external onlyOwner {
        if (snapshot >= block.number) revert InvalidSnapshot(snapshot, block.number);
        if (voteEnd <= block.timestamp) revert InvalidVoteEnd(voteEnd, block.timestamp);
        _create(jobId, snapshot, voteEnd, tokenWeighted, quorum);
    }

    /// @notice Opens a one-wallet-one-vote proposal whose votes come only through the owner's
    /// `voteBySig` relays (the off-chain service decides who is eligible; see the contract notes).
    function createRelayedProposal(bytes32 jobId, uint48 snapshot, uint48 voteEnd, uint256 quorum)
        external
        onlyOwner
    {
        if (snapshot >= block.number) revert InvalidSnapshot(snapshot, block.number);
        if (voteEnd <= block.timestamp) revert InvalidVoteEnd(voteEnd, block.timestamp);
        _create(jobId, snapshot, voteEnd, false, quorum);
        _proposals[jobId].relayedOnly = true;
    }

    /// @notice Casts the caller's vote on `jobId`, with their weight at the proposal's snapshot.
    /// @param reason free text (at most 5000 bytes), kept in the VoteCast event only
    function voteOnUpgrade(bytes32 jobId, bool approve, string calldata reason) external {
        if (_existing(jobId).relayedOnly) revert RelayedOnly(jobId);
        _cast(jobId, msg.sender, approve, reason);
    }

    /// @notice Casts `voter`'s vote from their EIP-712 signature; anyone may submit it and pays
    /// the gas, so voters need no ETH (the platform relays the ballots it receives).
    /// @dev The signed struct is
    /// `Vote(bytes32 proposal,address voter,string choice,string reason,uint64 timestamp)` under
    /// this contract's domain (name "SoulvanUpgradeVoting", version "1", chain id, this address),
    /// so a signature is valid for one proposal on one deployment only. `timestamp` is part of the
    /// signed message (the off-chain service orders vote changes by it) and not otherwise read
    /// here. Replaying a signature is harmless: a wallet votes once per proposal.
    /// @param choice exactly "approve" or "reject"
    /// @param signature 65 bytes r || s || v, low-s
    function voteBySig(
        bytes32 jobId,
        address voter,
        string calldata choice,
        string calldata reason,
        uint64 timestamp,
        bytes calldata signature
    ) external {
        bytes32 choiceHash = keccak256(bytes(choice));
        bool approve;
        if (choiceHash == APPROVE_HASH) {
            approve = true;
        } else if (choiceHash != REJECT_HASH) {
            revert InvalidChoice();
        }
        bytes32 structHash = keccak256(
            abi.encode(VOTE_TYPEHASH, jobId, voter, choiceHash, keccak256(bytes(reason)), timestamp)
        );
        (address signer, ECDSA.RecoverError err,) =
            ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (err != ECDSA.RecoverError.NoError || signer != voter) revert InvalidSignature();
        if (_existing(jobId).relayedOnly && msg.sender != owner()) revert RelayedOnly(jobId);
        _cast(jobId, voter, approve, reason);
    }

    /// @notice Closes the vote on `jobId` once its window has passed; anyone may call it.
    /// @dev Approved (UpgradeApplied) when approve weight is strictly greater than reject weight
    /// and approve + reject weight reaches the quorum; otherwise UpgradeRejected. Runs once.
    function applyUpgrade(bytes32 jobId) external {
        Proposal storage p = _existing(jobId);
        if (block.timestamp <= p.voteEnd) revert VotingOpen(jobId, p.voteEnd);
        if (p.finalized) revert AlreadyFinalized(jobId);
        p.finalized = true;
        uint256 approveWeight = p.approveWeight;
        uint256 rejectWeight = p.rejectWeight;
        if (approveWeight > rejectWeight && approveWeight + rejectWeight >= p.quorum) {
            p.applied = true;
            emit UpgradeApplied(jobId, approveWeight, rejectWeight);
        } else {
            emit UpgradeRejected(jobId, approveWeight, rejectWeight);
        }
    }

    /// @notice The approve and reject weight cast so far on `jobId` (zeros for an unknown id).
    function getTally(bytes32 jobId) external view returns (uint256 approve, uint256 reject) {
        Proposal storage p = _proposals[jobId];
        return (p.approveWeight, p.rejectWeight);
    }

    /// @notice The whole record of `jobId` (all zero with `exists` false when there is none).
    function getProposal(bytes32 jobId) external view returns (Proposal memory) {
        return _proposals[jobId];
    }

    /// @notice Whether `voter` has voted on `jobId` (directly or by signature).
    function hasVoted(bytes32 jobId, address voter) external view returns (bool) {
        return _hasVoted[jobId][voter];
    }

    /// @notice The EIP-712 domain separator vote signatures are made under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _create(
        bytes32 jobId,
        uint48 snapshot,
        uint48 voteEnd,
        bool tokenWeighted,
        uint256 quorum
    ) private {
        Proposal storage p = _proposals[jobId];
        if (p.exists) revert ProposalExists(jobId);
        p.snapshot = snapshot;
        p.voteEnd = voteEnd;
        p.tokenWeighted = tokenWeighted;
        p.exists = true;
        p.quorum = quorum;
        emit ProposalCreated(jobId, snapshot, voteEnd, tokenWeighted, quorum);
    }

    function _cast(bytes32 jobId, address voter, bool approve, string calldata reason) private {
        Proposal storage p = _existing(jobId);
        if (block.timestamp > p.voteEnd) revert VotingClosed(jobId, p.voteEnd);
        if (_hasVoted[jobId][voter]) revert AlreadyVoted(jobId, voter);
        if (bytes(reason).length > MAX_REASON_BYTES) {
            revert ReasonTooLong(bytes(reason).length, MAX_REASON_BYTES);
        }
        uint256 weight = p.tokenWeighted ? token.getPastVotes(voter, p.snapshot) : 1;
        if (weight == 0) revert NoVotingPower(voter, p.snapshot);
        _hasVoted[jobId][voter] = true;
        if (approve) {
            p.approveWeight += weight;
            p.approveVoters += 1;
        } else {
            p.rejectWeight += weight;
            p.rejectVoters += 1;
        }
        emit VoteCast(jobId, voter, approve, weight, reason);
    }

    function _existing(bytes32 jobId) private view returns (Proposal storage p) {
        p = _proposals[jobId];
        if (!p.exists) revert UnknownProposal(jobId);
    }
}
