// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title SoulvanCoin (SOUL)
/// @notice The governance token of Atelier's upgrade votes: an ERC-20 with EIP-2612 permits and
/// checkpointed voting power (ERC20Votes, clock = block numbers).
/// @dev Unlike a stock ERC20Votes token, every holder counts as delegating to itself until it
/// chooses another delegate: `delegates(account)` returns `account` when nothing was set. Platform
/// members hold SOUL in wallets they rarely touch, and asking each of them to send a `delegate()`
/// transaction (and pay its gas) before their balance can vote would disenfranchise most of them.
/// The price is one checkpoint write per side of every transfer, which ERC20Votes would also pay
/// for delegated holders.
contract SoulvanCoin is ERC20, ERC20Permit, ERC20Votes, Ownable {
    /// @param initialOwner the account allowed to `mint` (the platform's deployer or a multisig)
    /// @param initialHolder receives `initialSupply`; ignored when `initialSupply` is zero
    /// @param initialSupply tokens minted at deployment, in base units (18 decimals)
    constructor(
        address initialOwner,
        address initialHolder,
        uint256 initialSupply
    ) ERC20("SoulvanCoin", "SOUL") ERC20Permit("SoulvanCoin") Ownable(initialOwner) {
        if (initialSupply > 0) {
            _mint(initialHolder, initialSupply);
        }
    }

    /// @notice Mints `amount` base units to `to`; only the owner may.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice The account `account`'s votes count for: the delegate it chose, or itself when it
    /// never chose one (so balances vote without a `delegate()` transaction).
    /// @dev `address(0)` maps to itself, so mints and burns still only move the other side's votes.
    function delegates(address account) public view override returns (address) {
        address chosen = super.delegates(account);
        return chosen == address(0) ? account : chosen;
    }

    /// @dev Delegating to `address(0)` ("undelegate" in stock ERC20Votes) is read as delegating
    /// to oneself: with implicit self-delegation an explicit zero delegate would be reported as
    /// `account` by `delegates` while its units had been moved to nobody, and the next transfer
    /// would subtract votes `account` no longer has.
    function _delegate(address account, address delegatee) internal override {
        super._delegate(account, delegatee == address(0) ? account : delegatee);
    }

    // The overrides Solidity requires where ERC20, ERC20Permit and ERC20Votes meet.

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    /// @notice The next EIP-2612 / delegateBySig nonce of `owner` (shared by both).
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
