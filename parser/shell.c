/* Shell-word expansion as BuildKit's frontend/dockerfile/shell (lex.go).
 *
 * The functions below follow lex.go's structure one for one (processStopOn,
 * processSingleQuote, processDoubleQuote, processDollar, processName,
 * getEnv, trimPrefix, trimSuffix, convertShellPatternToRegex): BuildKit's
 * behaviour is defined by that code, quirks included, and keeping the same
 * shape is how the quirks stay reproduced. Where Go's standard library
 * defines the behaviour (text/scanner, unicode, regexp), the Go rules are
 * written out here and the comment says which one.
 */
#include "parser/shell.h"
#include "runtime/core/strbuf.h"
#include "runtime/core/utf8.h"

/* text/scanner's EOF, which lex.go also formats with string(ch): U+FFFD. */
#define SH_EOF (-1)

/* Go's unicode.IsLetter (categories Lu, Ll, Lt, Lm, Lo) and unicode.IsDigit
 * (Nd) for Unicode 15.0.0, the version current Go releases carry. Generated
 * from Debian's unicode-data 15.0.0 UnicodeData.txt: maximal runs of code
 * points of those categories, "<..., First>"/"<..., Last>" pairs expanded. */
static const uint32_t shell_letter_ranges[][2] = {
	{0x41, 0x5A}, {0x61, 0x7A}, {0xAA, 0xAA}, {0xB5, 0xB5}, {0xBA, 0xBA}, {0xC0, 0xD6},
	{0xD8, 0xF6}, {0xF8, 0x2C1}, {0x2C6, 0x2D1}, {0x2E0, 0x2E4}, {0x2EC, 0x2EC}, {0x2EE, 0x2EE},
	{0x370, 0x374}, {0x376, 0x377}, {0x37A, 0x37D}, {0x37F, 0x37F}, {0x386, 0x386},
	{0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
	{0x48A, 0x52F}, {0x531, 0x556}, {0x559, 0x559}, {0x560, 0x588}, {0x5D0, 0x5EA},
	{0x5EF, 0x5F2}, {0x620, 0x64A}, {0x66E, 0x66F}, {0x671, 0x6D3}, {0x6D5, 0x6D5},
	{0x6E5, 0x6E6}, {0x6EE, 0x6EF}, {0x6FA, 0x6FC}, {0x6FF, 0x6FF}, {0x710, 0x710},
	{0x712, 0x72F}, {0x74D, 0x7A5}, {0x7B1, 0x7B1}, {0x7CA, 0x7EA}, {0x7F4, 0x7F5},
	{0x7FA, 0x7FA}, {0x800, 0x815}, {0x81A, 0x81A}, {0x824, 0x824}, {0x828, 0x828},
	{0x840, 0x858}, {0x860, 0x86A}, {0x870, 0x887}, {0x889, 0x88E}, {0x8A0, 0x8C9},
	{0x904, 0x939}, {0x93D, 0x93D}, {0x950, 0x950}, {0x958, 0x961}, {0x971, 0x980},
	{0x985, 0x98C}, {0x98F, 0x990}, {0x993, 0x9A8}, {0x9AA, 0x9B0}, {0x9B2, 0x9B2},
	{0x9B6, 0x9B9}, {0x9BD, 0x9BD}, {0x9CE, 0x9CE}, {0x9DC, 0x9DD}, {0x9DF, 0x9E1},
	{0x9F0, 0x9F1}, {0x9FC, 0x9FC}, {0xA05, 0xA0A}, {0xA0F, 0xA10}, {0xA13, 0xA28},
	{0xA2A, 0xA30}, {0xA32, 0xA33}, {0xA35, 0xA36}, {0xA38, 0xA39}, {0xA59, 0xA5C},
	{0xA5E, 0xA5E}, {0xA72, 0xA74}, {0xA85, 0xA8D}, {0xA8F, 0xA91}, {0xA93, 0xAA8},
	{0xAAA, 0xAB0}, {0xAB2, 0xAB3}, {0xAB5, 0xAB9}, {0xABD, 0xABD}, {0xAD0, 0xAD0},
	{0xAE0, 0xAE1}, {0xAF9, 0xAF9}, {0xB05, 0xB0C}, {0xB0F, 0xB10}, {0xB13, 0xB28},
	{0xB2A, 0xB30}, {0xB32, 0xB33}, {0xB35, 0xB39}, {0xB3D, 0xB3D}, {0xB5C, 0xB5D},
	{0xB5F, 0xB61}, {0xB71, 0xB71}, {0xB83, 0xB83}, {0xB85, 0xB8A}, {0xB8E, 0xB90},
	{0xB92, 0xB95}, {0xB99, 0xB9A}, {0xB9C, 0xB9C}, {0xB9E, 0xB9F}, {0xBA3, 0xBA4},
	{0xBA8, 0xBAA}, {0xBAE, 0xBB9}, {0xBD0, 0xBD0}, {0xC05, 0xC0C}, {0xC0E, 0xC10},
	{0xC12, 0xC28}, {0xC2A, 0xC39}, {0xC3D, 0xC3D}, {0xC58, 0xC5A}, {0xC5D, 0xC5D},
	{0xC60, 0xC61}, {0xC80, 0xC80}, {0xC85, 0xC8C}, {0xC8E, 0xC90}, {0xC92, 0xCA8},
	{0xCAA, 0xCB3}, {0xCB5, 0xCB9}, {0xCBD, 0xCBD}, {0xCDD, 0xCDE}, {0xCE0, 0xCE1},
	{0xCF1, 0xCF2}, {0xD04, 0xD0C}, {0xD0E, 0xD10}, {0xD12, 0xD3A}, {0xD3D, 0xD3D},
	{0xD4E, 0xD4E}, {0xD54, 0xD56}, {0xD5F, 0xD61}, {0xD7A, 0xD7F}, {0xD85, 0xD96},
	{0xD9A, 0xDB1}, {0xDB3, 0xDBB}, {0xDBD, 0xDBD}, {0xDC0, 0xDC6}, {0xE01, 0xE30},
	{0xE32, 0xE33}, {0xE40, 0xE46}, {0xE81, 0xE82}, {0xE84, 0xE84}, {0xE86, 0xE8A},
	{0xE8C, 0xEA3}, {0xEA5, 0xEA5}, {0xEA7, 0xEB0}, {0xEB2, 0xEB3}, {0xEBD, 0xEBD},
	{0xEC0, 0xEC4}, {0xEC6, 0xEC6}, {0xEDC, 0xEDF}, {0xF00, 0xF00}, {0xF40, 0xF47},
	{0xF49, 0xF6C}, {0xF88, 0xF8C}, {0x1000, 0x102A}, {0x103F, 0x103F}, {0x1050, 0x1055},
	{0x105A, 0x105D}, {0x1061, 0x1061}, {0x1065, 0x1066}, {0x106E, 0x1070}, {0x1075, 0x1081},
	{0x108E, 0x108E}, {0x10A0, 0x10C5}, {0x10C7, 0x10C7}, {0x10CD, 0x10CD}, {0x10D0, 0x10FA},
	{0x10FC, 0x1248}, {0x124A, 0x124D}, {0x1250, 0x1256}, {0x1258, 0x1258}, {0x125A, 0x125D},
	{0x1260, 0x1288}, {0x128A, 0x128D}, {0x1290, 0x12B0}, {0x12B2, 0x12B5}, {0x12B8, 0x12BE},
	{0x12C0, 0x12C0}, {0x12C2, 0x12C5}, {0x12C8, 0x12D6}, {0x12D8, 0x1310}, {0x1312, 0x1315},
	{0x1318, 0x135A}, {0x1380, 0x138F}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1401, 0x166C},
	{0x166F, 0x167F}, {0x1681, 0x169A}, {0x16A0, 0x16EA}, {0x16F1, 0x16F8}, {0x1700, 0x1711},
	{0x171F, 0x1731}, {0x1740, 0x1751}, {0x1760, 0x176C}, {0x176E, 0x1770}, {0x1780, 0x17B3},
	{0x17D7, 0x17D7}, {0x17DC, 0x17DC}, {0x1820, 0x1878}, {0x1880, 0x1884}, {0x1887, 0x18A8},
	{0x18AA, 0x18AA}, {0x18B0, 0x18F5}, {0x1900, 0x191E}, {0x1950, 0x196D}, {0x1970, 0x1974},
	{0x1980, 0x19AB}, {0x19B0, 0x19C9}, {0x1A00, 0x1A16}, {0x1A20, 0x1A54}, {0x1AA7, 0x1AA7},
	{0x1B05, 0x1B33}, {0x1B45, 0x1B4C}, {0x1B83, 0x1BA0}, {0x1BAE, 0x1BAF}, {0x1BBA, 0x1BE5},
	{0x1C00, 0x1C23}, {0x1C4D, 0x1C4F}, {0x1C5A, 0x1C7D}, {0x1C80, 0x1C88}, {0x1C90, 0x1CBA},
	{0x1CBD, 0x1CBF}, {0x1CE9, 0x1CEC}, {0x1CEE, 0x1CF3}, {0x1CF5, 0x1CF6}, {0x1CFA, 0x1CFA},
	{0x1D00, 0x1DBF}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D},
	{0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D},
	{0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
	{0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC},
	{0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2102, 0x2102}, {0x2107, 0x2107},
	{0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
	{0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
	{0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
	{0x2D00, 0x2D25}, {0x2D27, 0x2D27}, {0x2D2D, 0x2D2D}, {0x2D30, 0x2D67}, {0x2D6F, 0x2D6F},
	{0x2D80, 0x2D96}, {0x2DA0, 0x2DA6}, {0x2DA8, 0x2DAE}, {0x2DB0, 0x2DB6}, {0x2DB8, 0x2DBE},
	{0x2DC0, 0x2DC6}, {0x2DC8, 0x2DCE}, {0x2DD0, 0x2DD6}, {0x2DD8, 0x2DDE}, {0x2E2F, 0x2E2F},
	{0x3005, 0x3006}, {0x3031, 0x3035}, {0x303B, 0x303C}, {0x3041, 0x3096}, {0x309D, 0x309F},
	{0x30A1, 0x30FA}, {0x30FC, 0x30FF}, {0x3105, 0x312F}, {0x3131, 0x318E}, {0x31A0, 0x31BF},
	{0x31F0, 0x31FF}, {0x3400, 0x4DBF}, {0x4E00, 0xA48C}, {0xA4D0, 0xA4FD}, {0xA500, 0xA60C},
	{0xA610, 0xA61F}, {0xA62A, 0xA62B}, {0xA640, 0xA66E}, {0xA67F, 0xA69D}, {0xA6A0, 0xA6E5},
	{0xA717, 0xA71F}, {0xA722, 0xA788}, {0xA78B, 0xA7CA}, {0xA7D0, 0xA7D1}, {0xA7D3, 0xA7D3},
	{0xA7D5, 0xA7D9}, {0xA7F2, 0xA801}, {0xA803, 0xA805}, {0xA807, 0xA80A}, {0xA80C, 0xA822},
	{0xA840, 0xA873}, {0xA882, 0xA8B3}, {0xA8F2, 0xA8F7}, {0xA8FB, 0xA8FB}, {0xA8FD, 0xA8FE},
	{0xA90A, 0xA925}, {0xA930, 0xA946}, {0xA960, 0xA97C}, {0xA984, 0xA9B2}, {0xA9CF, 0xA9CF},
	{0xA9E0, 0xA9E4}, {0xA9E6, 0xA9EF}, {0xA9FA, 0xA9FE}, {0xAA00, 0xAA28}, {0xAA40, 0xAA42},
	{0xAA44, 0xAA4B}, {0xAA60, 0xAA76}, {0xAA7A, 0xAA7A}, {0xAA7E, 0xAAAF}, {0xAAB1, 0xAAB1},
	{0xAAB5, 0xAAB6}, {0xAAB9, 0xAABD}, {0xAAC0, 0xAAC0}, {0xAAC2, 0xAAC2}, {0xAADB, 0xAADD},
	{0xAAE0, 0xAAEA}, {0xAAF2, 0xAAF4}, {0xAB01, 0xAB06}, {0xAB09, 0xAB0E}, {0xAB11, 0xAB16},
	{0xAB20, 0xAB26}, {0xAB28, 0xAB2E}, {0xAB30, 0xAB5A}, {0xAB5C, 0xAB69}, {0xAB70, 0xABE2},
	{0xAC00, 0xD7A3}, {0xD7B0, 0xD7C6}, {0xD7CB, 0xD7FB}, {0xF900, 0xFA6D}, {0xFA70, 0xFAD9},
	{0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFB1D, 0xFB1D}, {0xFB1F, 0xFB28}, {0xFB2A, 0xFB36},
	{0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E}, {0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFBB1},
	{0xFBD3, 0xFD3D}, {0xFD50, 0xFD8F}, {0xFD92, 0xFDC7}, {0xFDF0, 0xFDFB}, {0xFE70, 0xFE74},
	{0xFE76, 0xFEFC}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0xFF66, 0xFFBE}, {0xFFC2, 0xFFC7},
	{0xFFCA, 0xFFCF}, {0xFFD2, 0xFFD7}, {0xFFDA, 0xFFDC}, {0x10000, 0x1000B}, {0x1000D, 0x10026},
	{0x10028, 0x1003A}, {0x1003C, 0x1003D}, {0x1003F, 0x1004D}, {0x10050, 0x1005D},
	{0x10080, 0x100FA}, {0x10280, 0x1029C}, {0x102A0, 0x102D0}, {0x10300, 0x1031F},
	{0x1032D, 0x10340}, {0x10342, 0x10349}, {0x10350, 0x10375}, {0x10380, 0x1039D},
	{0x103A0, 0x103C3}, {0x103C8, 0x103CF}, {0x10400, 0x1049D}, {0x104B0, 0x104D3},
	{0x104D8, 0x104FB}, {0x10500, 0x10527}, {0x10530, 0x10563}, {0x10570, 0x1057A},
	{0x1057C, 0x1058A}, {0x1058C, 0x10592}, {0x10594, 0x10595}, {0x10597, 0x105A1},
	{0x105A3, 0x105B1}, {0x105B3, 0x105B9}, {0x105BB, 0x105BC}, {0x10600, 0x10736},
	{0x10740, 0x10755}, {0x10760, 0x10767}, {0x10780, 0x10785}, {0x10787, 0x107B0},
	{0x107B2, 0x107BA}, {0x10800, 0x10805}, {0x10808, 0x10808}, {0x1080A, 0x10835},
	{0x10837, 0x10838}, {0x1083C, 0x1083C}, {0x1083F, 0x10855}, {0x10860, 0x10876},
	{0x10880, 0x1089E}, {0x108E0, 0x108F2}, {0x108F4, 0x108F5}, {0x10900, 0x10915},
	{0x10920, 0x10939}, {0x10980, 0x109B7}, {0x109BE, 0x109BF}, {0x10A00, 0x10A00},
	{0x10A10, 0x10A13}, {0x10A15, 0x10A17}, {0x10A19, 0x10A35}, {0x10A60, 0x10A7C},
	{0x10A80, 0x10A9C}, {0x10AC0, 0x10AC7}, {0x10AC9, 0x10AE4}, {0x10B00, 0x10B35},
	{0x10B40, 0x10B55}, {0x10B60, 0x10B72}, {0x10B80, 0x10B91}, {0x10C00, 0x10C48},
	{0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x10D00, 0x10D23}, {0x10E80, 0x10EA9},
	{0x10EB0, 0x10EB1}, {0x10F00, 0x10F1C}, {0x10F27, 0x10F27}, {0x10F30, 0x10F45},
	{0x10F70, 0x10F81}, {0x10FB0, 0x10FC4}, {0x10FE0, 0x10FF6}, {0x11003, 0x11037},
	{0x11071, 0x11072}, {0x11075, 0x11075}, {0x11083, 0x110AF}, {0x110D0, 0x110E8},
	{0x11103, 0x11126}, {0x11144, 0x11144}, {0x11147, 0x11147}, {0x11150, 0x11172},
	{0x11176, 0x11176}, {0x11183, 0x111B2}, {0x111C1, 0x111C4}, {0x111DA, 0x111DA},
	{0x111DC, 0x111DC}, {0x11200, 0x11211}, {0x11213, 0x1122B}, {0x1123F, 0x11240},
	{0x11280, 0x11286}, {0x11288, 0x11288}, {0x1128A, 0x1128D}, {0x1128F, 0x1129D},
	{0x1129F, 0x112A8}, {0x112B0, 0x112DE}, {0x11305, 0x1130C}, {0x1130F, 0x11310},
	{0x11313, 0x11328}, {0x1132A, 0x11330}, {0x11332, 0x11333}, {0x11335, 0x11339},
	{0x1133D, 0x1133D}, {0x11350, 0x11350}, {0x1135D, 0x11361}, {0x11400, 0x11434},
	{0x11447, 0x1144A}, {0x1145F, 0x11461}, {0x11480, 0x114AF}, {0x114C4, 0x114C5},
	{0x114C7, 0x114C7}, {0x11580, 0x115AE}, {0x115D8, 0x115DB}, {0x11600, 0x1162F},
	{0x11644, 0x11644}, {0x11680, 0x116AA}, {0x116B8, 0x116B8}, {0x11700, 0x1171A},
	{0x11740, 0x11746}, {0x11800, 0x1182B}, {0x118A0, 0x118DF}, {0x118FF, 0x11906},
	{0x11909, 0x11909}, {0x1190C, 0x11913}, {0x11915, 0x11916}, {0x11918, 0x1192F},
	{0x1193F, 0x1193F}, {0x11941, 0x11941}, {0x119A0, 0x119A7}, {0x119AA, 0x119D0},
	{0x119E1, 0x119E1}, {0x119E3, 0x119E3}, {0x11A00, 0x11A00}, {0x11A0B, 0x11A32},
	{0x11A3A, 0x11A3A}, {0x11A50, 0x11A50}, {0x11A5C, 0x11A89}, {0x11A9D, 0x11A9D},
	{0x11AB0, 0x11AF8}, {0x11C00, 0x11C08}, {0x11C0A, 0x11C2E}, {0x11C40, 0x11C40},
	{0x11C72, 0x11C8F}, {0x11D00, 0x11D06}, {0x11D08, 0x11D09}, {0x11D0B, 0x11D30},
	{0x11D46, 0x11D46}, {0x11D60, 0x11D65}, {0x11D67, 0x11D68}, {0x11D6A, 0x11D89},
	{0x11D98, 0x11D98}, {0x11EE0, 0x11EF2}, {0x11F02, 0x11F02}, {0x11F04, 0x11F10},
	{0x11F12, 0x11F33}, {0x11FB0, 0x11FB0}, {0x12000, 0x12399}, {0x12480, 0x12543},
	{0x12F90, 0x12FF0}, {0x13000, 0x1342F}, {0x13441, 0x13446}, {0x14400, 0x14646},
	{0x16800, 0x16A38}, {0x16A40, 0x16A5E}, {0x16A70, 0x16ABE}, {0x16AD0, 0x16AED},
	{0x16B00, 0x16B2F}, {0x16B40, 0x16B43}, {0x16B63, 0x16B77}, {0x16B7D, 0x16B8F},
	{0x16E40, 0x16E7F}, {0x16F00, 0x16F4A}, {0x16F50, 0x16F50}, {0x16F93, 0x16F9F},
	{0x16FE0, 0x16FE1}, {0x16FE3, 0x16FE3}, {0x17000, 0x187F7}, {0x18800, 0x18CD5},
	{0x18D00, 0x18D08}, {0x1AFF0, 0x1AFF3}, {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE},
	{0x1B000, 0x1B122}, {0x1B132, 0x1B132}, {0x1B150, 0x1B152}, {0x1B155, 0x1B155},
	{0x1B164, 0x1B167}, {0x1B170, 0x1B2FB}, {0x1BC00, 0x1BC6A}, {0x1BC70, 0x1BC7C},
	{0x1BC80, 0x1BC88}, {0x1BC90, 0x1BC99}, {0x1D400, 0x1D454}, {0x1D456, 0x1D49C},
	{0x1D49E, 0x1D49F}, {0x1D4A2, 0x1D4A2}, {0x1D4A5, 0x1D4A6}, {0x1D4A9, 0x1D4AC},
	{0x1D4AE, 0x1D4B9}, {0x1D4BB, 0x1D4BB}, {0x1D4BD, 0x1D4C3}, {0x1D4C5, 0x1D505},
	{0x1D507, 0x1D50A}, {0x1D50D, 0x1D514}, {0x1D516, 0x1D51C}, {0x1D51E, 0x1D539},
	{0x1D53B, 0x1D53E}, {0x1D540, 0x1D544}, {0x1D546, 0x1D546}, {0x1D54A, 0x1D550},
	{0x1D552, 0x1D6A5}, {0x1D6A8, 0x1D6C0}, {0x1D6C2, 0x1D6DA}, {0x1D6DC, 0x1D6FA},
	{0x1D6FC, 0x1D714}, {0x1D716, 0x1D734}, {0x1D736, 0x1D74E}, {0x1D750, 0x1D76E},
	{0x1D770, 0x1D788}, {0x1D78A, 0x1D7A8}, {0x1D7AA, 0x1D7C2}, {0x1D7C4, 0x1D7CB},
	{0x1DF00, 0x1DF1E}, {0x1DF25, 0x1DF2A}, {0x1E030, 0x1E06D}, {0x1E100, 0x1E12C},
	{0x1E137, 0x1E13D}, {0x1E14E, 0x1E14E}, {0x1E290, 0x1E2AD}, {0x1E2C0, 0x1E2EB},
	{0x1E4D0, 0x1E4EB}, {0x1E7E0, 0x1E7E6}, {0x1E7E8, 0x1E7EB}, {0x1E7ED, 0x1E7EE},
	{0x1E7F0, 0x1E7FE}, {0x1E800, 0x1E8C4}, {0x1E900, 0x1E943}, {0x1E94B, 0x1E94B},
	{0x1EE00, 0x1EE03}, {0x1EE05, 0x1EE1F}, {0x1EE21, 0x1EE22}, {0x1EE24, 0x1EE24},
	{0x1EE27, 0x1EE27}, {0x1EE29, 0x1EE32}, {0x1EE34, 0x1EE37}, {0x1EE39, 0x1EE39},
	{0x1EE3B, 0x1EE3B}, {0x1EE42, 0x1EE42}, {0x1EE47, 0x1EE47}, {0x1EE49, 0x1EE49},
	{0x1EE4B, 0x1EE4B}, {0x1EE4D, 0x1EE4F}, {0x1EE51, 0x1EE52}, {0x1EE54, 0x1EE54},
	{0x1EE57, 0x1EE57}, {0x1EE59, 0x1EE59}, {0x1EE5B, 0x1EE5B}, {0x1EE5D, 0x1EE5D},
	{0x1EE5F, 0x1EE5F}, {0x1EE61, 0x1EE62}, {0x1EE64, 0x1EE64}, {0x1EE67, 0x1EE6A},
	{0x1EE6C, 0x1EE72}, {0x1EE74, 0x1EE77}, {0x1EE79, 0x1EE7C}, {0x1EE7E, 0x1EE7E},
	{0x1EE80, 0x1EE89}, {0x1EE8B, 0x1EE9B}, {0x1EEA1, 0x1EEA3}, {0x1EEA5, 0x1EEA9},
	{0x1EEAB, 0x1EEBB}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B739}, {0x2B740, 0x2B81D},
	{0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0}, {0x2F800, 0x2FA1D}, {0x30000, 0x3134A},
	{0x31350, 0x323AF},
};
static const uint32_t shell_digit_ranges[][2] = {
	{0x30, 0x39}, {0x660, 0x669}, {0x6F0, 0x6F9}, {0x7C0, 0x7C9}, {0x966, 0x96F}, {0x9E6, 0x9EF},
	{0xA66, 0xA6F}, {0xAE6, 0xAEF}, {0xB66, 0xB6F}, {0xBE6, 0xBEF}, {0xC66, 0xC6F},
	{0xCE6, 0xCEF}, {0xD66, 0xD6F}, {0xDE6, 0xDEF}, {0xE50, 0xE59}, {0xED0, 0xED9},
	{0xF20, 0xF29}, {0x1040, 0x1049}, {0x1090, 0x1099}, {0x17E0, 0x17E9}, {0x1810, 0x1819},
	{0x1946, 0x194F}, {0x19D0, 0x19D9}, {0x1A80, 0x1A89}, {0x1A90, 0x1A99}, {0x1B50, 0x1B59},
	{0x1BB0, 0x1BB9}, {0x1C40, 0x1C49}, {0x1C50, 0x1C59}, {0xA620, 0xA629}, {0xA8D0, 0xA8D9},
	{0xA900, 0xA909}, {0xA9D0, 0xA9D9}, {0xA9F0, 0xA9F9}, {0xAA50, 0xAA59}, {0xABF0, 0xABF9},
	{0xFF10, 0xFF19}, {0x104A0, 0x104A9}, {0x10D30, 0x10D39}, {0x11066, 0x1106F},
	{0x110F0, 0x110F9}, {0x11136, 0x1113F}, {0x111D0, 0x111D9}, {0x112F0, 0x112F9},
	{0x11450, 0x11459}, {0x114D0, 0x114D9}, {0x11650, 0x11659}, {0x116C0, 0x116C9},
	{0x11730, 0x11739}, {0x118E0, 0x118E9}, {0x11950, 0x11959}, {0x11C50, 0x11C59},
	{0x11D50, 0x11D59}, {0x11DA0, 0x11DA9}, {0x11F50, 0x11F59}, {0x16A60, 0x16A69},
	{0x16AC0, 0x16AC9}, {0x16B50, 0x16B59}, {0x1D7CE, 0x1D7FF}, {0x1E140, 0x1E149},
	{0x1E2F0, 0x1E2F9}, {0x1E4F0, 0x1E4F9}, {0x1E950, 0x1E959}, {0x1FBF0, 0x1FBF9},
};

static bool in_ranges(const uint32_t (*t)[2], size_t n, int32_t r)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uint32_t)r < t[mid][0])
			hi = mid;
		else if ((uint32_t)r > t[mid][1])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool is_letter(int32_t r)
{
	if (r < 0x80)
		return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
	return in_ranges(shell_letter_ranges, SB_ARRAY_SIZE(shell_letter_ranges), r);
}

static bool is_digit(int32_t r)
{
	if (r < 0x80)
		return r >= '0' && r <= '9';
	return in_ranges(shell_digit_ranges, SB_ARRAY_SIZE(shell_digit_ranges), r);
}

/* Go's text/scanner as lex.go drives it (Peek and Next only): one rune at a
 * time, an invalid or truncated sequence read as U+FFFD one byte wide, and a
 * byte-order mark skipped when it is the very first rune. */
struct rune_reader {
	const char *s;
	size_t n;
	size_t pos;   /* offset of ch */
	size_t width; /* encoded width of ch; 0 at the end */
	int32_t ch;   /* what Peek returns: the next rune or SH_EOF */
};

static void rr_load(struct rune_reader *rr)
{
	if (rr->pos >= rr->n) {
		rr->ch = SH_EOF;
		rr->width = 0;
		return;
	}
	rr->ch = sb_utf8_decode(rr->s + rr->pos, rr->n - rr->pos, &rr->width);
}

static void rr_init(struct rune_reader *rr, const char *s, size_t n)
{
	rr->s = s;
	rr->n = n;
	rr->pos = 0;
	rr_load(rr);
	if (rr->ch == 0xFEFF) {
		rr->pos += rr->width;
		rr_load(rr);
	}
}

static int32_t rr_next(struct rune_reader *rr)
{
	int32_t ch = rr->ch;

	if (ch != SH_EOF) {
		rr->pos += rr->width;
		rr_load(rr);
	}
	return ch;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_sort_unique(struct sb_strv *sv)
{
	size_t j = 0;

	if (sv->n < 2)
		return;
	qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
	for (size_t i = 0; i < sv->n; i++) {
		if (j && strcmp(sv->v[j - 1], sv->v[i]) == 0)
			free(sv->v[i]);
		else
			sv->v[j++] = sv->v[i];
	}
	sv->n = j;
}

/* Go's shellWord: the state of one expansion. */
struct shword {
	const struct sb_shlex *lex;
	const struct sb_shlex_env *env;
	struct rune_reader in;
	int32_t escape;
	bool raw_escapes;
	unsigned depth;
	size_t max;
	/* Bytes that may still be built. Everything this file allocates from
	 * the input or the variables is charged here, so one call is bounded
	 * in memory however its substitutions multiply. */
	size_t budget;
	/* BuildKit's shellWord.wordsBuffer: one buffer shared by every
	 * processStopOn frame and cleared when a frame starts. */
	struct sb_strbuf wordbuf;
	struct sb_strv matched, unmatched;
};

static int too_large(const struct shword *sw, struct sb_error **err)
{
	return sb_error_setx(err, E2BIG, "expansion exceeds %zu bytes", sw->max);
}

static int charge(struct shword *sw, size_t n, struct sb_error **err)
{
	if (n > sw->budget)
		return too_large(sw, err);
	sw->budget -= n;
	return 0;
}

static int sh_add(struct shword *sw, struct sb_strbuf *sb, const void *p, size_t n, struct sb_error **err)
{
	if (charge(sw, n, err) < 0)
		return -1;
	if (sb_strbuf_add(sb, p, n) < 0)
		return too_large(sw, err);
	return 0;
}

static int sh_adds(struct shword *sw, struct sb_strbuf *sb, const char *s, struct sb_error **err)
{
	return sh_add(sw, sb, s, strlen(s), err);
}

struct piece {
	const char *s;
	size_t n;
};

static int sh_add_pieces(struct shword *sw, struct sb_strbuf *sb, const struct piece *p, size_t n,
			 struct sb_error **err)
{
	for (size_t i = 0; i < n; i++)
		if (sh_add(sw, sb, p[i].s, p[i].n, err) < 0)
			return -1;
	return 0;
}

/* bytes.Buffer.WriteRune and string(rune): invalid runes, EOF included,
 * become U+FFFD. */
static int sh_add_rune(struct shword *sw, struct sb_strbuf *sb, int32_t r, struct sb_error **err)
{
	char b[4];
	size_t n = sb_utf8_encode(r, b);
	return sh_add(sw, sb, b, n, err);
}

/* Go's wordsStruct. Its text goes to sw->wordbuf, shared by all frames as
 * in BuildKit; only the outermost frame keeps the words it finishes. */
struct words {
	struct sb_strv v;
	size_t *lens; /* byte length of each word: a word may hold a NUL */
	size_t lens_alloc;
	bool in_word;
	bool keep;
};

static void words_flush(struct shword *sw, struct words *w)
{
	if (w->keep) {
		w->lens = sb_xgrow(w->lens, &w->lens_alloc, w->v.n + 1, sizeof(*w->lens));
		w->lens[w->v.n] = sw->wordbuf.len;
		sb_strv_push(&w->v, sb_xstrndup(sw->wordbuf.buf, sw->wordbuf.len));
	}
	sb_strbuf_reset(&sw->wordbuf);
	w->in_word = false;
}

static int words_add_raw_char(struct shword *sw, struct words *w, int32_t ch, struct sb_error **err)
{
	if (sh_add_rune(sw, &sw->wordbuf, ch, err) < 0)
		return -1;
	w->in_word = true;
	return 0;
}

static int words_add_char(struct shword *sw, struct words *w, int32_t ch, struct sb_error **err)
{
	bool space = sb_unicode_is_space(ch);

	/* An in-word flag with an empty buffer (after "" or a cleared shared
	 * buffer) neither splits nor adds: BuildKit only ever emits non-empty
	 * words. */
	if (space && w->in_word) {
		if (sw->wordbuf.len)
			words_flush(sw, w);
		return 0;
	}
	if (space)
		return 0;
	return words_add_raw_char(sw, w, ch, err);
}

/* addString: `for _, ch := range str`, so invalid bytes of a variable's
 * value reach the words as U+FFFD while the result keeps them. */
static int words_add_string(struct shword *sw, struct words *w, const char *s, size_t n, struct sb_error **err)
{
	size_t i = 0, width;

	while (i < n) {
		int32_t r = sb_utf8_decode(s + i, n - i, &width);
		if (words_add_char(sw, w, r, err) < 0)
			return -1;
		i += width;
	}
	return 0;
}

static int words_add_raw_string(struct shword *sw, struct words *w, const char *s, size_t n, struct sb_error **err)
{
	if (sh_add(sw, &sw->wordbuf, s, n, err) < 0)
		return -1;
	w->in_word = true;
	return 0;
}

static void words_get(struct shword *sw, struct words *w)
{
	if (sw->wordbuf.len)
		words_flush(sw, w);
}

static const char *get_env(struct shword *sw, const char *name, size_t len, bool *set)
{
	const char *v = NULL;

	if (sw->env && sw->env->get)
		v = sw->env->get(sw->env->ctx, name, len);
	sb_strv_push(v ? &sw->matched : &sw->unmatched, sb_xstrndup(name, len));
	*set = v != NULL;
	return v ? v : "";
}

/* ---- patterns: convertShellPatternToRegex and Go's regexp ----
 *
 * BuildKit turns a pattern into a regexp: '*' into ".*" (greedy) or ".*?",
 * '?' into '.', "\*", "\?" and "\\" into literals, '\' before '}' or '/'
 * dropped, any other escape an error, and every other rune (brackets
 * included: no bracket expressions) a literal. Such a regexp is a flat
 * sequence, run here by a Pike VM with Go's leftmost-first priorities,
 * the semantics of all of Go's regexp engines: the leftmost start wins,
 * then the choice a backtracker would make. '.' is Go's default: any rune
 * but '\n', an invalid byte being one U+FFFD rune. */
enum pat_op { PAT_LIT, PAT_ANY, PAT_STAR, PAT_MATCH };

struct pat_inst {
	enum pat_op op;
	int32_t r;
};

struct pat_thread {
	size_t pc, start;
};

struct pattern {
	struct pat_inst *inst; /* ends with PAT_MATCH */
	size_t n, alloc;
	bool greedy, anchored;
	struct pat_thread *q[2];
	size_t qn[2];
	uint64_t qgen[2];
	uint64_t *mark; /* generation of the list that last took each pc */
	uint64_t gen;
};

static void pattern_release(struct pattern *re)
{
	free(re->inst);
	free(re->q[0]);
	free(re->q[1]);
	free(re->mark);
	memset(re, 0, sizeof(*re));
}

static void pattern_push(struct pattern *re, enum pat_op op, int32_t r)
{
	re->inst = sb_xgrow(re->inst, &re->alloc, re->n + 1, sizeof(*re->inst));
	re->inst[re->n].op = op;
	re->inst[re->n].r = r;
	re->n++;
}

static int pattern_compile(struct shword *sw, struct pattern *re, const char *pat, size_t plen, bool greedy,
			   bool anchored, struct sb_error **err)
{
	struct rune_reader rr;
	int32_t tok;
	size_t per, cost;

	memset(re, 0, sizeof(*re));
	re->greedy = greedy;
	re->anchored = anchored;
	/* Charge the matcher's memory up front: an instruction, two queue
	 * slots and a mark for each rune of the pattern, plus the match. */
	per = sizeof(struct pat_inst) + 2 * sizeof(struct pat_thread) + sizeof(uint64_t);
	if (!sb_add_ok(plen, 1, &cost) || !sb_mul_ok(cost, per, &cost))
		return too_large(sw, err);
	if (charge(sw, cost, err) < 0)
		return -1;
	/* convertShellPatternToRegex reads the pattern with a text/scanner
	 * too, so a leading byte-order mark is dropped here as well. */
	rr_init(&rr, pat, plen);
	while ((tok = rr_next(&rr)) != SH_EOF) {
		switch (tok) {
		case '*':
			pattern_push(re, PAT_STAR, 0);
			continue;
		case '?':
			pattern_push(re, PAT_ANY, 0);
			continue;
		case '\\':
			if (rr.ch == '}' || rr.ch == '/')
				continue;
			tok = rr_next(&rr);
			if (tok != '*' && tok != '?' && tok != '\\') {
				char b[4];
				size_t bn = sb_utf8_encode(tok, b);
				pattern_release(re);
				return sb_error_setx(err, EINVAL,
						     "invalid pattern (%s) in substitution: invalid escape '\\%.*s'",
						     pat, (int)bn, b);
			}
			break;
		default:
			break;
		}
		pattern_push(re, PAT_LIT, tok);
	}
	pattern_push(re, PAT_MATCH, 0);
	re->q[0] = sb_xcalloc(re->n, sizeof(*re->q[0]));
	re->q[1] = sb_xcalloc(re->n, sizeof(*re->q[1]));
	re->mark = sb_xcalloc(re->n, sizeof(*re->mark));
	return 0;
}

static void pat_enqueue(struct pattern *re, int qi, size_t pc, size_t start)
{
	struct pat_thread *t = &re->q[qi][re->qn[qi]++];
	t->pc = pc;
	t->start = start;
}

/* Add the thread at pc to queue qi with its epsilon closure, in priority
 * order. A star's entry on the queue stands for its loop body. Greedy, the
 * body comes before what follows the star; lazy, after it. All stars of
 * one pattern share the greediness, so a run of them unrolls in a loop. */
static void pat_add(struct pattern *re, int qi, size_t pc, size_t start)
{
	uint64_t g = re->qgen[qi];

	if (re->inst[pc].op == PAT_STAR && !re->greedy) {
		size_t j = pc;
		while (re->inst[j].op == PAT_STAR && re->mark[j] != g)
			re->mark[j++] = g;
		if (re->inst[j].op != PAT_STAR && re->mark[j] != g) {
			re->mark[j] = g;
			pat_enqueue(re, qi, j, start);
		}
		while (j-- > pc)
			pat_enqueue(re, qi, j, start);
		return;
	}
	while (re->mark[pc] != g) {
		re->mark[pc] = g;
		pat_enqueue(re, qi, pc, start);
		if (re->inst[pc].op != PAT_STAR)
			return;
		pc++;
	}
}

/* The leftmost-first match at or after byte offset from, as Go's
 * Regexp.doExecute: threads started earlier, or preferred by the stars,
 * outrank later ones, and a match cuts off every thread below it. */
static bool pat_find(struct pattern *re, const char *s, size_t n, size_t from, size_t *ms, size_t *me)
{
	size_t pos = from;
	bool matched = false;
	int cur = 0;

	re->qn[0] = 0;
	re->qgen[0] = ++re->gen;
	for (;;) {
		int32_t c = SH_EOF;
		size_t width = 0;
		int nxt = !cur;

		if (re->qn[cur] == 0 && ((re->anchored && pos != 0) || matched))
			break;
		if (!matched && (!re->anchored || pos == 0))
			pat_add(re, cur, 0, pos);
		if (pos < n)
			c = sb_utf8_decode(s + pos, n - pos, &width);
		re->qn[nxt] = 0;
		re->qgen[nxt] = ++re->gen;
		for (size_t k = 0; k < re->qn[cur]; k++) {
			struct pat_thread t = re->q[cur][k];
			const struct pat_inst *in = &re->inst[t.pc];
			bool cut = false;

			switch (in->op) {
			case PAT_MATCH:
				*ms = t.start;
				*me = pos;
				matched = true;
				cut = true;
				break;
			case PAT_LIT:
				if (c == in->r)
					pat_add(re, nxt, t.pc + 1, t.start);
				break;
			case PAT_ANY:
				if (c != SH_EOF && c != '\n')
					pat_add(re, nxt, t.pc + 1, t.start);
				break;
			case PAT_STAR:
				if (c != SH_EOF && c != '\n')
					pat_add(re, nxt, t.pc, t.start);
				break;
			}
			if (cut)
				break;
		}
		re->qn[cur] = 0;
		if (width == 0)
			break;
		pos += width;
		cur = nxt;
	}
	return matched;
}

/* Go's Regexp.expand for a regexp whose only group is the whole match:
 * "$$" is '$', "$0" and "${0}" the match, any other "$name" or "${name}"
 * (letters, digits, '_', as Go's extract reads them) nothing, and a '$'
 * not starting a reference itself. */
static int expand_template(struct shword *sw, const char *t, size_t tn, const char *m, size_t mn,
			   struct sb_strbuf *out, struct sb_error **err)
{
	while (tn) {
		const char *d = memchr(t, '$', tn);
		size_t i, start, width;

		if (!d)
			break;
		if (sh_add(sw, out, t, (size_t)(d - t), err) < 0)
			return -1;
		tn -= (size_t)(d - t) + 1;
		t = d + 1;
		if (tn && t[0] == '$') {
			if (sh_add(sw, out, "$", 1, err) < 0)
				return -1;
			t++;
			tn--;
			continue;
		}
		start = tn && t[0] == '{';
		for (i = start; i < tn; i += width) {
			int32_t r = sb_utf8_decode(t + i, tn - i, &width);
			if (!is_letter(r) && !is_digit(r) && r != '_')
				break;
		}
		if (i == start || (start && (i >= tn || t[i] != '}'))) {
			if (sh_add(sw, out, "$", 1, err) < 0)
				return -1;
			continue;
		}
		/* Group 0 is named by "0" alone: leading zeros are refused. */
		if (i - start == 1 && t[start] == '0' && sh_add(sw, out, m, mn, err) < 0)
			return -1;
		i += start;
		t += i;
		tn -= i;
	}
	return sh_add(sw, out, t, tn, err);
}

/* Regexp.ReplaceAllString, empty matches and all. */
static int replace_all(struct shword *sw, struct pattern *re, const char *v, size_t vn, const char *repl,
		       size_t rn, struct sb_strbuf *out, struct sb_error **err)
{
	size_t last = 0, search = 0, ms, me;

	while (search <= vn && pat_find(re, v, vn, search, &ms, &me)) {
		size_t width = 0;

		if (sh_add(sw, out, v + last, ms - last, err) < 0)
			return -1;
		/* no replacement for an empty match right after a match */
		if ((me > last || ms == 0) && expand_template(sw, repl, rn, v + ms, me - ms, out, err) < 0)
			return -1;
		last = me;
		if (search < vn)
			sb_utf8_decode(v + search, vn - search, &width);
		if (search + width > me)
			search += width;
		else if (search + 1 > me)
			search++;
		else
			search = me;
	}
	return sh_add(sw, out, v + last, vn - last, err);
}

/* trimPrefix: where value resumes after the shortest (greedy: longest)
 * prefix matching pat; 0 when none does. */
static int trim_prefix(struct shword *sw, const char *pat, size_t plen, const char *v, size_t vn, bool greedy,
		       size_t *cut, struct sb_error **err)
{
	struct pattern re;
	size_t ms, me;

	if (pattern_compile(sw, &re, pat, plen, greedy, true, err) < 0)
		return -1;
	*cut = pat_find(&re, v, vn, 0, &ms, &me) ? me : 0;
	pattern_release(&re);
	return 0;
}

/* Append s reversed rune by rune, as string(slices.Reverse([]rune(s))):
 * invalid bytes come out as U+FFFD. With pattern set, as reversePattern:
 * a '\' and the rune after it stay together, in that order. */
static int append_reversed(struct shword *sw, struct sb_strbuf *out, const char *s, size_t n, bool pattern,
			   struct sb_error **err)
{
	size_t total = 0, i, width, p;
	char b[4];

	for (i = 0; i < n; i += width)
		total += sb_utf8_encode(sb_utf8_decode(s + i, n - i, &width), b);
	if (charge(sw, total, err) < 0 || sb_strbuf_grow(out, total) < 0)
		return too_large(sw, err);
	p = out->len + total;
	for (i = 0; i < n; i += width) {
		int32_t r = sb_utf8_decode(s + i, n - i, &width);
		size_t bn = sb_utf8_encode(r, b);

		if (pattern && r == '\\' && i + width < n) {
			size_t w2;
			char b2[4];
			size_t bn2 = sb_utf8_encode(sb_utf8_decode(s + i + width, n - i - width, &w2), b2);
			p -= 1 + bn2;
			out->buf[p] = '\\';
			memcpy(out->buf + p + 1, b2, bn2);
			width += w2;
			continue;
		}
		p -= bn;
		memcpy(out->buf + p, b, bn);
	}
	out->len += total;
	out->buf[out->len] = '\0';
	return 0;
}

/* trimSuffix: reverse pattern and value, trim the prefix, reverse back. */
static int trim_suffix(struct shword *sw, const char *pat, size_t plen, const char *v, size_t vn, bool greedy,
		       struct sb_strbuf *out, struct sb_error **err)
{
	struct sb_strbuf rp = SB_STRBUF_INIT, rv = SB_STRBUF_INIT;
	size_t cut;
	int rc = -1;

	if (append_reversed(sw, &rp, pat, plen, true, err) < 0 || append_reversed(sw, &rv, v, vn, false, err) < 0)
		goto out;
	if (trim_prefix(sw, rp.buf, rp.len, rv.buf, rv.len, greedy, &cut, err) < 0)
		goto out;
	rc = append_reversed(sw, out, rv.buf + cut, rv.len - cut, false, err);
out:
	sb_strbuf_release(&rp);
	sb_strbuf_release(&rv);
	return rc;
}

/* ---- the lexer ---- */

static int process_dollar(struct shword *sw, struct sb_strbuf *out, struct sb_error **err);

/* A nested processStopOn failed. BuildKit reports a missing terminator
 * instead of the nested error whenever the input is used up, whatever that
 * error was. */
static int nested_failed(struct shword *sw, struct sb_error **sub, const char *at_eof, struct sb_error **err)
{
	if (sw->in.ch == SH_EOF)
		return sb_error_setx(err, EINVAL, "%s", at_eof);
	if (err && !*err) {
		*err = *sub;
		*sub = NULL;
	}
	return -1;
}

static int process_single_quote(struct shword *sw, struct sb_strbuf *out, struct sb_error **err)
{
	bool raw = sw->lex->raw_quotes;
	int32_t ch = rr_next(&sw->in);

	if (raw && sh_add_rune(sw, out, ch, err) < 0)
		return -1;
	for (;;) {
		ch = rr_next(&sw->in);
		if (ch == SH_EOF)
			return sb_error_setx(err, EINVAL,
					     "unexpected end of statement while looking for matching single-quote");
		if (ch == '\'')
			return raw ? sh_add_rune(sw, out, ch, err) : 0;
		if (sh_add_rune(sw, out, ch, err) < 0)
			return -1;
	}
}

static int process_double_quote(struct shword *sw, struct sb_strbuf *out, struct sb_error **err)
{
	bool raw = sw->lex->raw_quotes;
	int32_t ch = rr_next(&sw->in);

	if (raw && sh_add_rune(sw, out, ch, err) < 0)
		return -1;
	for (;;) {
		int32_t p = sw->in.ch;

		if (p == SH_EOF)
			return sb_error_setx(err, EINVAL,
					     "unexpected end of statement while looking for matching double-quote");
		if (p == '"') {
			ch = rr_next(&sw->in);
			return raw ? sh_add_rune(sw, out, ch, err) : 0;
		}
		if (p == '$') {
			if (process_dollar(sw, out, err) < 0)
				return -1;
			continue;
		}
		ch = rr_next(&sw->in);
		if (ch == sw->escape) {
			/* With raw escapes on, an escape before anything but
			 * '"', '$' or itself is written twice: once as the
			 * raw escape, once as the literal it then is. */
			if (sw->raw_escapes && sh_add_rune(sw, out, ch, err) < 0)
				return -1;
			p = sw->in.ch;
			if (p == SH_EOF)
				continue;
			if (p == '"' || p == '$' || p == sw->escape)
				ch = rr_next(&sw->in);
		}
		if (sh_add_rune(sw, out, ch, err) < 0)
			return -1;
	}
}

/* processPossibleHeredoc: "<<" takes the blanks after it into its word, so
 * that "<< EOF" stays one word for the heredoc detection that lexes lines
 * with this expander. The text itself comes out unchanged. */
static int process_possible_heredoc(struct shword *sw, struct sb_strbuf *out, struct sb_error **err)
{
	rr_next(&sw->in);
	if (sw->in.ch != '<')
		return sh_add(sw, out, "<", 1, err);
	rr_next(&sw->in);
	if (sh_add(sw, out, "<<", 2, err) < 0)
		return -1;
	while (sw->in.ch == ' ' || sw->in.ch == '\t' || sw->in.ch == '\r')
		if (sh_add_rune(sw, out, rr_next(&sw->in), err) < 0)
			return -1;
	return 0;
}

/* processStopOn: expand up to stop (consumed) or, for SH_EOF, the end. */
static int process_stop_on(struct shword *sw, int32_t stop, bool raw_escapes, struct sb_strbuf *result,
			   struct words *w, struct sb_error **err)
{
	bool saved = sw->raw_escapes, quotes = !sw->lex->skip_process_quotes;
	int rc = -1;

	/* BuildKit recurses on Go's growable stack; a C stack needs a bound. */
	if (sw->depth >= SB_SHLEX_MAX_DEPTH)
		return sb_error_setx(err, E2BIG, "syntax error: substitutions nested deeper than %d levels",
				     SB_SHLEX_MAX_DEPTH);
	sw->depth++;
	sw->raw_escapes = raw_escapes;
	sb_strbuf_reset(&sw->wordbuf);
	w->in_word = false;

	while (sw->in.ch != SH_EOF) {
		int32_t ch = sw->in.ch;

		if (stop != SH_EOF && ch == stop) {
			rr_next(&sw->in);
			words_get(sw, w);
			rc = 0;
			goto out;
		}
		if (ch == '$' || ch == '<' || (quotes && (ch == '\'' || ch == '"'))) {
			struct sb_strbuf tmp = SB_STRBUF_INIT;
			int r;

			if (ch == '$')
				r = process_dollar(sw, &tmp, err);
			else if (ch == '<')
				r = process_possible_heredoc(sw, &tmp, err);
			else if (ch == '\'')
				r = process_single_quote(sw, &tmp, err);
			else
				r = process_double_quote(sw, &tmp, err);
			if (r == 0)
				r = sh_add(sw, result, tmp.buf, tmp.len, err);
			/* expansions split into words; quoted text and "<<"
			 * with its blanks do not */
			if (r == 0 && ch == '$')
				r = words_add_string(sw, w, tmp.buf, tmp.len, err);
			else if (r == 0)
				r = words_add_raw_string(sw, w, tmp.buf, tmp.len, err);
			sb_strbuf_release(&tmp);
			if (r < 0)
				goto out;
			continue;
		}
		ch = rr_next(&sw->in);
		if (ch == sw->escape) {
			if (sw->raw_escapes &&
			    (words_add_raw_char(sw, w, ch, err) < 0 || sh_add_rune(sw, result, ch, err) < 0))
				goto out;
			ch = rr_next(&sw->in);
			if (ch == SH_EOF)
				break;
			if (words_add_raw_char(sw, w, ch, err) < 0)
				goto out;
		} else if (words_add_char(sw, w, ch, err) < 0) {
			goto out;
		}
		if (sh_add_rune(sw, result, ch, err) < 0)
			goto out;
	}
	if (stop != SH_EOF) {
		char b[4];
		size_t bn = sb_utf8_encode(stop, b);
		sb_error_setx(err, EINVAL, "unexpected end of statement while looking for matching %.*s", (int)bn, b);
		goto out;
	}
	words_get(sw, w);
	rc = 0;
out:
	sw->raw_escapes = saved;
	sw->depth--;
	return rc;
}

/* POSIX special parameters, as BuildKit's isSpecialParam. */
static bool is_special_param(int32_t ch)
{
	switch (ch) {
	case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
		return true;
	default:
		return false;
	}
}

/* processName: digits run on as one name, a special parameter is a name by
 * itself, otherwise letters, digits and '_' (Unicode classes, as Go). */
static int process_name(struct shword *sw, struct sb_strbuf *name, struct sb_error **err)
{
	while (sw->in.ch != SH_EOF) {
		int32_t ch = sw->in.ch;

		if (name->len == 0 && is_digit(ch)) {
			while (sw->in.ch != SH_EOF && is_digit(sw->in.ch))
				if (sh_add_rune(sw, name, rr_next(&sw->in), err) < 0)
					return -1;
			return 0;
		}
		if (name->len == 0 && is_special_param(ch))
			return sh_add_rune(sw, name, rr_next(&sw->in), err);
		if (!is_letter(ch) && !is_digit(ch) && ch != '_')
			break;
		if (sh_add_rune(sw, name, rr_next(&sw->in), err) < 0)
			return -1;
	}
	return 0;
}

static int unsupported(const struct sb_strbuf *chs, struct sb_error **err)
{
	return sb_error_setx(err, EINVAL, "unsupported modifier (%s) in substitution", chs->buf);
}

/* ${name<chs>word} for the modifiers - + ? # % and their ':' forms. */
static int expand_modifier(struct shword *sw, const struct sb_strbuf *name, const struct sb_strbuf *chs, int32_t ch,
			   bool null_is_unset, struct sb_strbuf *out, struct sb_error **err)
{
	struct sb_strbuf word = SB_STRBUF_INIT;
	struct words w = { .keep = false };
	struct sb_error *sub = NULL;
	bool raw = ch == '#' || ch == '%', set, unset;
	const char *value;
	int rc = -1;

	/* ${v:#p} and ${v:%p} are refused before their word is read */
	if (null_is_unset && raw)
		return unsupported(chs, err);
	if (process_stop_on(sw, '}', raw, &word, &w, &sub) < 0) {
		rc = nested_failed(sw, &sub, "syntax error: missing '}'", err);
		goto out;
	}
	value = get_env(sw, name->buf, name->len, &set);
	if (sw->lex->skip_unset_env && !set) {
		const struct piece back[] = {
			{ "${", 2 }, { name->buf, name->len }, { chs->buf, chs->len }, { word.buf, word.len }, { "}", 1 },
		};
		rc = sh_add_pieces(sw, out, back, SB_ARRAY_SIZE(back), err);
		goto out;
	}
	unset = !set || (null_is_unset && !*value);
	switch (ch) {
	case '-':
		rc = unset ? sh_add(sw, out, word.buf, word.len, err) : sh_adds(sw, out, value, err);
		break;
	case '+':
		rc = unset ? 0 : sh_add(sw, out, word.buf, word.len, err);
		break;
	case '?':
		if (unset)
			rc = sb_error_setx(err, EINVAL, "%s: %s", name->buf,
					   word.len ? word.buf
					   : !set   ? "is not allowed to be unset"
						    : "is not allowed to be empty");
		else
			rc = sh_adds(sw, out, value, err);
		break;
	case '#':
	case '%': {
		/* a doubled modifier shows as the word's first byte */
		const char *pat = word.buf;
		size_t plen = word.len, cut;
		bool greedy = plen > 0 && pat[0] == (char)ch;

		if (greedy) {
			pat++;
			plen--;
		}
		if (ch == '%')
			rc = trim_suffix(sw, pat, plen, value, strlen(value), greedy, out, err);
		else if (trim_prefix(sw, pat, plen, value, strlen(value), greedy, &cut, err) == 0)
			rc = sh_adds(sw, out, value + cut, err);
		break;
	}
	default:
		rc = unsupported(chs, err);
		break;
	}
out:
	sb_strbuf_release(&word);
	sb_strv_release(&w.v);
	sb_error_free(sub);
	return rc;
}

/* ${name/pattern/replacement} and ${name//pattern/replacement}. */
static int expand_replace(struct shword *sw, const struct sb_strbuf *name, struct sb_strbuf *out,
			  struct sb_error **err)
{
	struct sb_strbuf pat = SB_STRBUF_INIT, repl = SB_STRBUF_INIT;
	struct words w = { .keep = false };
	struct sb_error *sub = NULL;
	struct pattern re = { 0 };
	bool all = sw->in.ch == '/', set;
	const char *value;
	size_t vn, ms, me;
	int rc = -1;

	if (all)
		rr_next(&sw->in);
	if (process_stop_on(sw, '/', true, &pat, &w, &sub) < 0) {
		rc = nested_failed(sw, &sub, "syntax error: missing '/' in ${}", err);
		goto out;
	}
	if (process_stop_on(sw, '}', true, &repl, &w, &sub) < 0) {
		rc = nested_failed(sw, &sub, "syntax error: missing '}'", err);
		goto out;
	}
	value = get_env(sw, name->buf, name->len, &set);
	if (sw->lex->skip_unset_env && !set) {
		/* written back with one '/' even for "//", as BuildKit does */
		const struct piece back[] = {
			{ "${", 2 }, { name->buf, name->len }, { "/", 1 }, { pat.buf, pat.len },
			{ "/", 1 },  { repl.buf, repl.len }, { "}", 1 },
		};
		rc = sh_add_pieces(sw, out, back, SB_ARRAY_SIZE(back), err);
		goto out;
	}
	if (pattern_compile(sw, &re, pat.buf, pat.len, true, false, err) < 0)
		goto out;
	vn = strlen(value);
	if (all) {
		/* ReplaceAllString: "$0" and "$$" in the replacement expand */
		rc = replace_all(sw, &re, value, vn, repl.buf, repl.len, out, err);
	} else if (pat_find(&re, value, vn, 0, &ms, &me)) {
		/* the first match is replaced by plain concatenation */
		const struct piece spliced[] = { { value, ms }, { repl.buf, repl.len }, { value + me, vn - me } };
		rc = sh_add_pieces(sw, out, spliced, SB_ARRAY_SIZE(spliced), err);
	} else {
		rc = sh_add(sw, out, value, vn, err);
	}
out:
	pattern_release(&re);
	sb_strbuf_release(&pat);
	sb_strbuf_release(&repl);
	sb_strv_release(&w.v);
	sb_error_free(sub);
	return rc;
}

static int process_dollar(struct shword *sw, struct sb_strbuf *out, struct sb_error **err)
{
	struct sb_strbuf name = SB_STRBUF_INIT, chs = SB_STRBUF_INIT;
	const char *value;
	bool set;
	int32_t ch;
	int rc = -1;

	rr_next(&sw->in);
	if (sw->in.ch != '{') {
		if (process_name(sw, &name, err) < 0)
			goto out;
		if (!name.len) {
			rc = sh_add(sw, out, "$", 1, err);
			goto out;
		}
		value = get_env(sw, name.buf, name.len, &set);
		if (!set && sw->lex->skip_unset_env) {
			const struct piece back[] = { { "$", 1 }, { name.buf, name.len } };
			rc = sh_add_pieces(sw, out, back, SB_ARRAY_SIZE(back), err);
		} else {
			rc = sh_adds(sw, out, value, err);
		}
		goto out;
	}
	rr_next(&sw->in);
	switch (sw->in.ch) {
	case SH_EOF:
		rc = sb_error_setx(err, EINVAL, "syntax error: missing '}'");
		goto out;
	case '{':
	case '}':
	case ':':
		rc = sb_error_setx(err, EINVAL, "syntax error: bad substitution");
		goto out;
	default:
		break;
	}
	if (process_name(sw, &name, err) < 0)
		goto out;
	ch = rr_next(&sw->in);
	if (sh_add_rune(sw, &chs, ch, err) < 0)
		goto out;
	switch (ch) {
	case '}':
		value = get_env(sw, name.buf, name.len, &set);
		if (!set && sw->lex->skip_unset_env) {
			const struct piece back[] = { { "${", 2 }, { name.buf, name.len }, { "}", 1 } };
			rc = sh_add_pieces(sw, out, back, SB_ARRAY_SIZE(back), err);
		} else {
			rc = sh_adds(sw, out, value, err);
		}
		break;
	case ':':
		/* whatever follows the ':' is taken as the modifier */
		ch = rr_next(&sw->in);
		if (sh_add_rune(sw, &chs, ch, err) == 0)
			rc = expand_modifier(sw, &name, &chs, ch, true, out, err);
		break;
	case '+':
	case '-':
	case '?':
	case '#':
	case '%':
		rc = expand_modifier(sw, &name, &chs, ch, false, out, err);
		break;
	case '/':
		rc = expand_replace(sw, &name, out, err);
		break;
	default:
		rc = unsupported(&chs, err);
		break;
	}
out:
	sb_strbuf_release(&name);
	sb_strbuf_release(&chs);
	return rc;
}

void sb_shlex_init(struct sb_shlex *lex, char escape)
{
	memset(lex, 0, sizeof(*lex));
	lex->escape = escape;
}

static const char *envlist_get(void *ctx, const char *name, size_t len)
{
	const struct sb_shlex_envlist *list = ctx;

	for (size_t i = list->n; i-- > 0;) {
		const char *kv = list->kv[i];
		const char *eq = strchr(kv, '=');
		size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);

		if (klen == len && memcmp(kv, name, len) == 0)
			return kv + klen + (eq != NULL);
	}
	return NULL;
}

void sb_shlex_env_from_list(struct sb_shlex_env *env, struct sb_shlex_envlist *list)
{
	env->get = envlist_get;
	env->ctx = list;
}

void sb_shlex_result_release(struct sb_shlex_result *res)
{
	free(res->result);
	sb_strv_free(res->words, res->nwords);
	free(res->word_lens);
	sb_strv_free(res->matched, res->nmatched);
	sb_strv_free(res->unmatched, res->nunmatched);
	memset(res, 0, sizeof(*res));
}

int sb_shlex_process(const struct sb_shlex *lex, const char *word, size_t len, const struct sb_shlex_env *env,
		     struct sb_shlex_result *res, struct sb_error **err)
{
	struct shword sw;
	struct sb_strbuf result = SB_STRBUF_INIT;
	struct words top = { .keep = true };
	struct sb_error *e = NULL;

	memset(res, 0, sizeof(*res));
	memset(&sw, 0, sizeof(sw));
	sw.lex = lex;
	sw.env = env;
	sw.escape = (unsigned char)lex->escape;
	sw.raw_escapes = lex->raw_escapes;
	sw.max = lex->max_len ? lex->max_len : SB_SHLEX_MAX_LEN;
	sw.budget = sw.max;
	sb_strbuf_init(&sw.wordbuf, 0);
	rr_init(&sw.in, word ? word : "", word ? len : 0);

	if (process_stop_on(&sw, SH_EOF, sw.raw_escapes, &result, &top, &e) < 0) {
		struct sb_strbuf q = SB_STRBUF_INIT;

		sb_go_quote(&q, word ? word : "", word ? len : 0);
		sb_error_wrap(&e, "failed to process %s", q.buf);
		sb_strbuf_release(&q);
		if (err && !*err)
			*err = e;
		else
			sb_error_free(e);
		sb_strbuf_release(&result);
		sb_strv_release(&top.v);
		free(top.lens);
		sb_strv_release(&sw.matched);
		sb_strv_release(&sw.unmatched);
		sb_strbuf_release(&sw.wordbuf);
		return -1;
	}
	res->result = sb_strbuf_detach(&result, &res->result_len);
	res->words = top.v.v;
	res->word_lens = top.lens;
	res->nwords = top.v.n;
	strv_sort_unique(&sw.matched);
	strv_sort_unique(&sw.unmatched);
	res->matched = sw.matched.v;
	res->nmatched = sw.matched.n;
	res->unmatched = sw.unmatched.v;
	res->nunmatched = sw.unmatched.n;
	sb_strbuf_release(&sw.wordbuf);
	return 0;
}

int sb_shlex_process_word(const struct sb_shlex *lex, const char *word, const struct sb_shlex_env *env, char **out,
			  struct sb_error **err)
{
	struct sb_shlex_result res;

	*out = NULL;
	if (sb_shlex_process(lex, word, strlen(word), env, &res, err) < 0)
		return -1;
	*out = sb_steal(&res.result);
	sb_shlex_result_release(&res);
	return 0;
}

int sb_shlex_process_words(const struct sb_shlex *lex, const char *word, size_t len, const struct sb_shlex_env *env,
			   char ***words, size_t *nwords, struct sb_error **err)
{
	struct sb_shlex_result res;

	*words = NULL;
	*nwords = 0;
	if (sb_shlex_process(lex, word, len, env, &res, err) < 0)
		return -1;
	*words = sb_steal(&res.words);
	*nwords = res.nwords;
	res.nwords = 0;
	sb_shlex_result_release(&res);
	return 0;
}
