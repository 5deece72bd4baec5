module pushgate/tools/emoji-table

go 1.21

require github.com/kyokomi/emoji v2.2.4+incompatible
