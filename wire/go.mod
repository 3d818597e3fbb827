module github.com/wschat/wschat/wire

go 1.26.0
