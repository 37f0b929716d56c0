"""Claims (レセプト): intake of claim files, care after loss and 返納金, 資格点検, the generic share and 特定健診
rates, documented in docs/claims.md."""
