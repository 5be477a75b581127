"""The Tencent IM protocol, free of Django: tag catalogue, UserSig, client, ErrorCodes, emulator."""
