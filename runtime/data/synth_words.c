/* synth_words.c — the word tables of the synthetic notes generator: 24
 * two-level categories with topical words and hashtags (English and Chinese),
 * adjectives, name syllables, emoji markup and sentence/title templates.
 * Item names are made up from the syllables at run time, so the tables stay
 * small. Data only; depends on synth.h. */
#include "synth.h"

#define CAT(a, b, za, zb, w, zw, t, zt) {{a, za}, {b, zb}, {w, zw}, {t, zt}}

const nl_synth_category nl_synth_categories[NL_SYNTH_CATEGORIES] = {
    CAT("Food", "Baking", "美食", "烘焙", "bread oven flour butter crust dough pastry sourdough",
        "面包 烤箱 面粉 黄油 酥皮 面团 甜点 酸种", "homebaking breadlover bakeday", "家庭烘焙 面包控 烘焙日记"),
    CAT("Food", "Street Food", "美食", "街头小吃", "noodles skewers dumplings buns stall sauce broth snack",
        "面条 烤串 饺子 包子 小摊 酱汁 汤底 小吃", "streetfood nightmarket snacktime", "街头美食 夜市 小吃推荐"),
    CAT("Food", "Coffee", "美食", "咖啡", "latte espresso beans roast crema cafe pourover mug",
        "拿铁 浓缩 咖啡豆 烘焙度 油脂 咖啡馆 手冲 马克杯", "coffeetime latteart cafehopping", "咖啡日常 拉花 探店"),
    CAT("Travel", "Beaches", "旅行", "海岛", "sand waves shore sunset lagoon reef island tide",
        "沙滩 海浪 海岸 日落 泻湖 珊瑚 小岛 潮汐", "beachlife islandtrip sunsetview", "海岛游 海边日落 度假"),
    CAT("Travel", "Mountains", "旅行", "山野", "trail peak valley camp ridge summit forest lake",
        "步道 山峰 山谷 露营 山脊 山顶 森林 湖泊", "hiking mountainview campingtrip", "徒步 爬山 露营日记"),
    CAT("Travel", "City Walks", "旅行", "城市漫步", "street alley market museum bridge square tram corner",
        "街道 小巷 市集 博物馆 大桥 广场 电车 街角", "citywalk urbanstroll weekendtrip", "城市漫步 周末去哪 街拍"),
    CAT("Beauty", "Skincare", "美妆", "护肤", "serum toner cream mask cleanser sunscreen essence lotion",
        "精华 爽肤水 面霜 面膜 洁面 防晒 原液 乳液", "skincare glowskin selfcare", "护肤分享 好皮肤 自我护理"),
    CAT("Beauty", "Makeup", "美妆", "彩妆", "lipstick blush palette eyeliner foundation brush gloss powder",
        "口红 腮红 眼影盘 眼线 粉底 刷子 唇釉 散粉", "makeuplook dailymakeup lipswatch", "日常妆容 口红试色 妆容教程"),
    CAT("Beauty", "Perfume", "美妆", "香水", "scent bottle notes musk citrus floral amber vanilla",
        "香味 香水瓶 前调 麝香 柑橘 花香 琥珀 香草", "perfumelover scentoftheday fragrance", "香水分享 今日香氛 留香"),
    CAT("Fashion", "Sneakers", "穿搭", "球鞋", "sneakers sole laces colorway midsole heel mesh pair",
        "球鞋 鞋底 鞋带 配色 中底 鞋跟 网面 新鞋", "sneakerhead kicksoftheday shoegame", "球鞋分享 今日上脚 开箱"),
    CAT("Fashion", "Dresses", "穿搭", "连衣裙", "dress fabric hem sleeve waist linen print silhouette",
        "裙子 面料 裙摆 袖子 腰线 亚麻 印花 廓形", "ootd dresslove summerstyle", "今日穿搭 连衣裙 夏日穿搭"),
    CAT("Fashion", "Bags", "穿搭", "包包", "tote strap leather clutch pocket zipper canvas buckle",
        "托特包 肩带 皮革 手拿包 口袋 拉链 帆布 搭扣", "bagcollection whatsinmybag dailybag", "包包分享 我的包里 通勤包"),
    CAT("Home", "Plants", "家居", "绿植", "monstera pot soil leaves cactus fern sunlight cutting",
        "龟背竹 花盆 土壤 叶子 仙人掌 蕨类 阳光 扦插", "plantmom urbanjungle greenhome", "养绿植 阳台花园 植物日记"),
    CAT("Home", "Furniture", "家居", "家具", "sofa table shelf lamp chair rug cabinet desk",
        "沙发 桌子 置物架 台灯 椅子 地毯 柜子 书桌", "homedecor roomtour cozyhome", "家居好物 房间改造 温馨小家"),
    CAT("Home", "Kitchenware", "家居", "厨具", "pan knife pot kettle board spatula bowl skillet",
        "平底锅 刀具 汤锅 水壶 砧板 锅铲 碗 铸铁锅", "kitchentools cookware homecooking", "厨房好物 厨具推荐 在家做饭"),
    CAT("Hobbies and Interests", "Educational Toys", "兴趣爱好", "益智玩具",
        "blocks puzzle magnets abacus robot kit cards maze", "积木 拼图 磁力片 算盘 机器人 套装 卡片 迷宫",
        "learningtoys kidsplay stemtoys", "益智玩具 亲子游戏 早教"),
    CAT("Hobbies and Interests", "Board Games", "兴趣爱好", "桌游", "dice tokens board cards meeple strategy tiles expansion",
        "骰子 标记物 棋盘 卡牌 小人 策略 板块 扩展包", "boardgames gamenight tabletop", "桌游推荐 聚会游戏 桌游日常"),
    CAT("Hobbies and Interests", "Photography", "兴趣爱好", "摄影", "lens camera film shutter tripod light frame portrait",
        "镜头 相机 胶片 快门 三脚架 光线 构图 人像", "photooftheday filmphoto streetphoto", "摄影日常 胶片摄影 扫街"),
    CAT("Fitness", "Yoga", "健身", "瑜伽", "mat pose stretch breath balance flow block strap",
        "瑜伽垫 体式 拉伸 呼吸 平衡 流瑜伽 瑜伽砖 伸展带", "yogadaily yogaflow stretching", "瑜伽日常 拉伸 冥想"),
    CAT("Fitness", "Running", "健身", "跑步", "shoes pace route marathon track watch interval stride",
        "跑鞋 配速 路线 马拉松 跑道 手表 间歇跑 步幅", "runnerlife morningrun marathon", "跑步打卡 晨跑 马拉松"),
    CAT("Fitness", "Cycling", "健身", "骑行", "bike helmet saddle gear climb route wheel jersey",
        "自行车 头盔 坐垫 变速 爬坡 路线 车轮 骑行服", "cyclinglife bikeride roadbike", "骑行日记 公路车 周末骑行"),
    CAT("Tech", "Phones", "数码", "手机", "phone screen battery camera case charger chip display",
        "手机 屏幕 电池 摄像头 手机壳 充电器 芯片 显示效果", "phonereview techtalk unboxing", "手机测评 数码分享 开箱"),
    CAT("Tech", "Headphones", "数码", "耳机", "earbuds bass noise cancelling cable case fit sound",
        "耳机 低音 降噪 线材 充电盒 佩戴 音质 音场", "audiophile headphones soundcheck", "耳机推荐 降噪耳机 音质"),
    CAT("Tech", "Keyboards", "数码", "键盘", "keycaps switches layout case stabilizer foam plate cable",
        "键帽 轴体 配列 外壳 卫星轴 消音棉 定位板 数据线", "mechkeyboard desksetup keycaps", "机械键盘 桌面布置 客制化"),
};

const char *const nl_synth_adjectives[2] = {
    "cozy amazing gorgeous practical tasty stunning lovely fresh classic elegant affordable underrated",
    "治愈 惊艳 好看 实用 好吃 绝美 可爱 新鲜 经典 高级 平价 宝藏",
};

const char *const nl_synth_syllables[2] = {
    "ka lo mi zer tor van qui rel sa bu nex fa or dun zal pim cor vet ush lan tek mor ar sol "
    "bri gan hul jo kes ny pra ves",
    "琨 瑷 翎 璟 珩 岚 溪 泠 榆 栖 砚 澜 苒 芊 棠 檀 昀 晞 屿 柘 汀 骞 筠 蘅 沅 黛 莳 璞 玥 珂 岫 枳",
};

const char *const nl_synth_emoji = "[笑哭R] [赞R] [哇R] [派对R] [飞吻R] [偷笑R]";

static const char *const sent_en[] = {
    "The %W here is honestly %A.", "Sharing my %A %W routine.",
    "Spent the whole weekend on %W and it was %A!", "If you love %W you will find this %A.",
    "Tip: pair the %W with a little %W.", "Not sponsored, just a %A %W I keep coming back to.",
    "Saved this %W list for later, so %A.", "Third time trying %W, still \"%A\".", NULL};
static const char *const named_en[] = {
    "Finally tried %N and the %W was %A.", "%N has the most %A %W I have seen.",
    "Everyone asks where this is from: %N.", "Back at %N again for the %W!", NULL};
static const char *const title_en[] = {"%A %W diary", "My %W picks", "A %A week of %W", "%W notes, %A", NULL};
static const char *const tnamed_en[] = {"%N review", "%N: %A %W", "%N is %A", NULL};

static const char *const sent_zh[] = {
    "这里的%W真的很%A。", "分享一下我的%A%W日常。", "周末全花在%W上了，太%A了！", "喜欢%W的姐妹一定会觉得%A。",
    "小技巧：%W搭配一点%W。", "无广，纯分享一个%A的%W。", "收藏这份%W清单，很%A。", "第三次尝试%W，依然“%A”。", NULL};
static const char *const named_zh[] = {
    "终于去了%N，%W真的%A。", "%N的%W是我见过最%A的。", "好多人问我在哪买的，就是%N。", "又来%N打卡%W了！", NULL};
static const char *const title_zh[] = {"%A的%W日记", "我的%W清单", "%A的一周%W", "%W笔记，%A", NULL};
static const char *const tnamed_zh[] = {"%N测评", "%N：%A的%W", "%N太%A了", NULL};

const char *const nl_synth_short[2] = {"%A %W!", "%A的%W！"};
const char *const nl_synth_short_named[2] = {"%N %W, %A!", "%N的%W，%A！"};

const char *const *const nl_synth_sentences[2] = {sent_en, sent_zh};
const char *const *const nl_synth_sentences_named[2] = {named_en, named_zh};
const char *const *const nl_synth_titles[2] = {title_en, title_zh};
const char *const *const nl_synth_titles_named[2] = {tnamed_en, tnamed_zh};

const char *const nl_synth_shape_names[NL_SYNTH_SHAPES] = {
    "circle", "square", "triangle", "star", "cross", "ring", "diamond", "crescent"};
const char *const nl_synth_colour_names[NL_SYNTH_COLOURS] = {
    "red", "green", "blue", "yellow", "magenta", "cyan", "orange", "white"};
const char *const nl_synth_texture_names[NL_SYNTH_TEXTURES] = {"solid", "stripes", "dots", "checker"};
const char *const nl_synth_position_names[NL_SYNTH_POSITIONS] = {
    "center", "top-left", "top-right", "bottom-left", "bottom-right"};
