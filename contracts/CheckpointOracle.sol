// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title Checkpoint oracle for the light client protocol
/// @notice Stores the latest checkpoint (section index, checkpoint hash, registration
/// height) once enough admins have signed it. ABI, storage layout and rules match
/// go-ethereum v1.11.6's checkpoint oracle; this source is written independently.
contract CheckpointOracle {
    // Storage slots 0..7, in this order (readers rely on slots 2, 3 and 4).
    mapping(address => bool) private admins;
    address[] private adminList;
    uint64 private sectionIndex;
    uint256 private height;
    bytes32 private hash;
    uint256 private sectionSize;
    uint256 private processConfirms;
    uint256 private threshold;

    /// @notice One admin's signature, counted towards a registration.
    event NewCheckpointVote(uint64 indexed index, bytes32 checkpointHash, uint8 v, bytes32 r, bytes32 s);

    constructor(address[] memory _adminlist, uint256 _sectionSize, uint256 _processConfirms, uint256 _threshold) {
        for (uint256 i = 0; i < _adminlist.length; i++) {
            admins[_adminlist[i]] = true;
            adminList.push(_adminlist[i]);
        }
        sectionSize = _sectionSize;
        processConfirms = _processConfirms;
        threshold = _threshold;
    }

    /// @notice The latest registered checkpoint: (section index, hash, block of registration).
    function GetLatestCheckpoint() public view returns (uint64, bytes32, uint256) {
        return (sectionIndex, hash, height);
    }

    /// @notice Register checkpoint `_hash` of section `_sectionIndex`, signed by admins.
    /// @dev Reverts for a non-admin sender, a wrong recent block hash, mismatched signature
    /// arrays, a signature by a non-admin, signers not strictly ascending, or too few
    /// signatures. Returns false, changing nothing, for a section that is not yet final,
    /// older or equal to the stored one, or a zero hash.
    function SetCheckpoint(
        uint256 _recentNumber,
        bytes32 _recentHash,
        bytes32 _hash,
        uint64 _sectionIndex,
        uint8[] memory v,
        bytes32[] memory r,
        bytes32[] memory s
    ) public returns (bool) {
        require(admins[msg.sender]);
        require(blockhash(_recentNumber) == _recentHash);
        require(v.length == r.length);
        require(v.length == s.length);

        unchecked {
            // The index + 1 wraps in 64 bits and the product in 256 bits, as in the original.
            if (block.number < uint256(_sectionIndex + 1) * sectionSize + processConfirms) {
                return false;
            }
        }
        if (_sectionIndex < sectionIndex) {
            return false;
        }
        if (_sectionIndex == sectionIndex && (_sectionIndex != 0 || height != 0)) {
            return false;
        }
        if (_hash == bytes32(0)) {
            return false;
        }

        // EIP-191 version 0x00: data with an intended validator (this contract).
        bytes32 digest = keccak256(abi.encodePacked(bytes1(0x19), bytes1(0x00), address(this), _sectionIndex, _hash));
        address previous = address(0);
        for (uint256 i = 0; i < v.length; i++) {
            address signer = ecrecover(digest, v[i], r[i], s[i]);
            require(admins[signer]);
            require(uint160(signer) > uint160(previous));
            previous = signer;
            emit NewCheckpointVote(_sectionIndex, _hash, v[i], r[i], s[i]);
            if (i + 1 >= threshold) {
                hash = _hash;
                height = block.number;
                sectionIndex = _sectionIndex;
                return true;
            }
        }
        revert();
    }

    /// @notice Every admin, in the order given at deployment.
    function GetAllAdmin() public view returns (address[] memory) {
        address[] memory result = new address[](adminList.length);
        for (uint256 i = 0; i < adminList.length; i++) {
            result[i] = adminList[i];
        }
        return result;
    }
}
