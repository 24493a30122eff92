"""Operations over the Generator protocol: pure functions and small result records."""
